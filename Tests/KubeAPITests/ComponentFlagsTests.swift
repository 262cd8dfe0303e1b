import Testing
@testable import KubeAPI

/// The components' duration flags read as Go's time.ParseDuration reads them.
@Suite struct ComponentFlagsTests {
    @Test func durationsInGosForm() {
        #expect(ComponentFlags.parseDuration("40s") == .seconds(40))
        #expect(ComponentFlags.parseDuration("5m0s") == .seconds(300))
        #expect(ComponentFlags.parseDuration("1m30s") == .seconds(90))
        #expect(ComponentFlags.parseDuration("1h") == .seconds(3600))
        #expect(ComponentFlags.parseDuration("500ms") == .milliseconds(500))
        #expect(ComponentFlags.parseDuration("1.5s") == .milliseconds(1500))
        #expect(ComponentFlags.parseDuration("0") == .zero)
        for wrong in ["", "10", "1x", "s", "-1s", "1m30"] {
            #expect(ComponentFlags.parseDuration(wrong) == nil, "\(wrong)")
        }
    }
}
