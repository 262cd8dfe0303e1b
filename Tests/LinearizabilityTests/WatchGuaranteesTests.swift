import Linearizability
import Testing

/// The watch checker on small hand-made histories: it passes agreeing watchers and names each
/// kind of violation.
struct WatchGuaranteesTests {
    static func event(_ revision: Int64, _ key: String, _ value: String?) -> WatchedEvent {
        WatchedEvent(revision: revision, key: key, value: value)
    }

    static let full = [event(2, "a", "1"), event(3, "b", "2"), event(4, "a", nil), event(5, "a", "3")]

    @Test func agreeingWatchersPass() {
        // The second watcher is behind (it reached revision 3): behind is not a gap.
        let violations = WatchGuarantees.check(watchers: [Self.full, Array(Self.full.prefix(2))],
                                               acknowledged: [Self.event(3, "b", "2"), Self.event(5, "a", "3")])
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test func outOfOrderAndDuplicateEventsAreViolations() {
        let reordered = [Self.full[1], Self.full[0], Self.full[2], Self.full[3]]
        #expect(WatchGuarantees.check(watchers: [reordered], acknowledged: []).contains { $0.contains("out of order") })
        let repeated = Self.full + [Self.full[3]]
        #expect(WatchGuarantees.check(watchers: [repeated], acknowledged: []).contains { $0.contains("twice") })
    }

    @Test func aGapIsAViolation() {
        let gap = [Self.full[0], Self.full[2], Self.full[3]]
        let violations = WatchGuarantees.check(watchers: [Self.full, gap], acknowledged: [])
        #expect(violations.contains { $0.contains("missed revisions [3]") }, "\(violations)")
    }

    @Test func disagreementIsAViolation() {
        var other = Self.full
        other[1] = Self.event(3, "b", "other")
        let violations = WatchGuarantees.check(watchers: [Self.full, other], acknowledged: [])
        #expect(violations.contains { $0.contains("another watcher got") }, "\(violations)")
    }

    @Test func anAcknowledgedWriteMustBeWhatWatchersSaw() {
        let lost = WatchGuarantees.check(watchers: [Self.full], acknowledged: [Self.event(3, "b", "9")])
        #expect(lost.contains { $0.contains("acknowledged write 3:b=9") }, "\(lost)")
        // A write past what every watcher reached says nothing yet.
        #expect(WatchGuarantees.check(watchers: [Self.full], acknowledged: [Self.event(9, "b", "9")]).isEmpty)
    }
}
