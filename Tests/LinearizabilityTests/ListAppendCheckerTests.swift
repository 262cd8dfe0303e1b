import Linearizability
import Testing

/// The list-append checks, each on the smallest history that breaks it, and a history that
/// keeps them all.
@Suite struct ListAppendCheckerTests {
    static func append(_ value: String, _ keys: [String], _ succeeded: Bool?, _ invoked: UInt64, _ returned: UInt64?) -> ListAppend {
        ListAppend(keys: keys, value: value, succeeded: succeeded, invoked: invoked, returned: returned)
    }

    static func read(_ lists: [String: [String]], _ invoked: UInt64, _ returned: UInt64) -> ListRead {
        ListRead(lists: lists, invoked: invoked, returned: returned)
    }

    @Test func aSerialHistoryWithConcurrentAndUnknownAppendsPasses() {
        let appends = [
            Self.append("a", ["x", "y"], true, 0, 10),
            Self.append("b", ["x"], true, 5, 30),      // concurrent with c: either order
            Self.append("c", ["x"], true, 6, 20),
            Self.append("d", ["y"], nil, 40, nil),      // unknown, and it did take effect
            Self.append("e", ["y"], nil, 41, nil),      // unknown, and it did not
            Self.append("f", ["x"], false, 42, 43),     // refused
        ]
        let reads = [
            Self.read(["x": ["a"], "y": ["a"]], 11, 12),
            Self.read(["x": ["a", "c", "b"], "y": ["a"]], 31, 35),
            Self.read(["x": ["a", "c", "b"], "y": ["a", "d"]], 50, 60),
        ]
        #expect(ListAppendChecker.check(appends: appends, reads: reads) == [])
    }

    @Test func eachBrokenGuaranteeIsNamed() {
        func violations(_ appends: [ListAppend], _ reads: [ListRead]) -> String {
            ListAppendChecker.check(appends: appends, reads: reads).joined(separator: "\n")
        }
        let ab = [Self.append("a", ["x"], true, 0, 10), Self.append("b", ["x"], true, 0, 10)]
        #expect(violations(ab, [Self.read(["x": ["a"]], 20, 21), Self.read(["x": ["b", "a"]], 22, 23)]).contains("diverged"))
        #expect(violations(ab, [Self.read(["x": ["a", "b", "a"]], 20, 21)]).contains("appears twice"))
        #expect(violations(ab, [Self.read(["x": ["a", "b", "z"]], 20, 21)]).contains("no transaction appended it"))
        #expect(violations([Self.append("a", ["x"], false, 0, 10)], [Self.read(["x": ["a"]], 20, 21)]).contains("refused"))
        #expect(violations(ab, [Self.read(["x": ["a"]], 20, 21)]).contains("lost"))
        let both = [Self.append("a", ["x", "y"], nil, 0, nil)]
        #expect(violations(both, [Self.read(["x": ["a"], "y": []], 20, 21)]).contains("not atomic"))
        #expect(violations([Self.append("a", ["x"], nil, 5, nil)], [Self.read(["x": ["a"]], 0, 1)]).contains("from the future"))
        let slow = [Self.append("a", ["x"], true, 0, 10), Self.append("b", ["x"], nil, 0, nil)]
        #expect(violations(slow, [Self.read(["x": []], 20, 21), Self.read(["x": ["a"]], 30, 31)]).contains("stale"))
        let ordered = [Self.append("a", ["x"], true, 0, 10), Self.append("b", ["x"], true, 20, 30)]
        #expect(violations(ordered, [Self.read(["x": ["b", "a"]], 40, 41)]).contains("yet comes after it"))
        let shrinking = [Self.append("a", ["x"], nil, 0, nil)]
        #expect(violations(shrinking, [Self.read(["x": ["a"]], 20, 21), Self.read(["x": []], 30, 31)]).contains("sees less than"))
    }
}
