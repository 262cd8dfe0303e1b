/// One event a watcher received: the key's state after `revision` (`value` nil for a deletion).
public struct WatchedEvent: Hashable, Sendable, CustomStringConvertible {
    public var revision: Int64
    public var key: String
    public var value: String?

    public init(revision: Int64, key: String, value: String?) {
        self.revision = revision
        self.key = key
        self.value = value
    }

    public var description: String { "\(revision):\(key)=\(value ?? "<deleted>")" }
}

/// etcd's watch guarantees, checked over what several watchers of the same range, started at the
/// same revision, received; and against the writes the cluster acknowledged.
///
/// - Ordered and unique: each watcher's events never go back in revision, and no revision and key
///   comes twice.
/// - Atomic and agreed: every watcher that received a revision received the same events for it.
/// - Reliable (no gaps): a watcher that got as far as revision R received every revision up to R
///   that any watcher received.
/// - Acknowledged: a write the cluster acknowledged at revision R is what every watcher that got
///   as far as R received at R.
public enum WatchGuarantees {
    /// The violations found, each a sentence naming the watcher and the events; empty when the
    /// guarantees hold.
    public static func check(watchers: [[WatchedEvent]], acknowledged: [WatchedEvent]) -> [String] {
        var violations: [String] = []
        // The events of each revision, as the first watcher to receive it saw them.
        var agreed: [Int64: Set<WatchedEvent>] = [:]
        var byWatcher: [[Int64: Set<WatchedEvent>]] = []
        for (index, events) in watchers.enumerated() {
            var revisions: [Int64: Set<WatchedEvent>] = [:]
            var last: Int64 = 0
            for event in events {
                if event.revision < last {
                    violations.append("watcher \(index): \(event) after revision \(last) (out of order)")
                }
                last = max(last, event.revision)
                if !revisions[event.revision, default: []].insert(event).inserted
                    || revisions[event.revision]!.contains(where: { $0.key == event.key && $0 != event }) {
                    violations.append("watcher \(index): \(event) delivered twice or conflicting")
                }
            }
            byWatcher.append(revisions)
            for (revision, events) in revisions {
                if let first = agreed[revision] {
                    if first != events {
                        violations.append("watcher \(index) at revision \(revision): \(events.sorted { $0.key < $1.key }) but another watcher got \(first.sorted { $0.key < $1.key })")
                    }
                } else {
                    agreed[revision] = events
                }
            }
        }
        for (index, revisions) in byWatcher.enumerated() {
            let reached = revisions.keys.max() ?? 0
            let missing = agreed.keys.filter { $0 <= reached && revisions[$0] == nil }.sorted()
            if !missing.isEmpty {
                violations.append("watcher \(index) reached revision \(reached) but missed revisions \(missing.prefix(10))")
            }
        }
        let reachedByAll = byWatcher.map { $0.keys.max() ?? 0 }.min() ?? 0
        for write in acknowledged where write.revision <= reachedByAll {
            if !(agreed[write.revision]?.contains(write) ?? false) {
                violations.append("acknowledged write \(write) is not what the watchers received at its revision (\(agreed[write.revision].map { "\($0)" } ?? "nothing"))")
            }
        }
        return violations
    }
}
