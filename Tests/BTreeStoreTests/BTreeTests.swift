import Testing
@testable import BTreeStore

/// Targeted B+-tree cases the random test may reach only rarely.
struct BTreeTests {
    static func key(_ number: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(number).bigEndian) { Array($0) }
    }

    @Test func byteOrderIsGoBytesCompare() {
        #expect([UInt8].compare([], []) == 0)
        #expect([UInt8].compare([], [0]) < 0)
        #expect([UInt8].compare([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8]) > 0)
        #expect([UInt8].compare([1, 2, 3, 4, 5, 6, 7, 9], [1, 2, 3, 4, 5, 6, 7, 8, 0]) > 0)
        #expect([UInt8].compare([0xFF], [0x00, 0xFF]) > 0)
        // Summaries order like the keys and tell short keys apart by length.
        let keys: [[UInt8]] = [[], [0], [0, 0], [0x61], [0x61, 0], Array(repeating: 0x61, count: 15),
                               Array(repeating: 0x61, count: 16), Array(repeating: 0x61, count: 17), [0x62]]
        for (lower, upper) in zip(keys, keys.dropFirst()) {
            #expect([UInt8].compare(lower, upper) < 0)
            #expect(lower.orderSummary.order(upper.orderSummary) < 0
                || (lower.orderSummary == upper.orderSummary && ![UInt8].summaryIsComplete(lower.orderSummary)))
        }
        #expect([UInt8].summaryIsComplete(Array(repeating: 0x61, count: 15).orderSummary))
        #expect(![UInt8].summaryIsComplete(Array(repeating: 0x61, count: 16).orderSummary))
    }

    @Test func sequentialFillIsDense() throws {
        var tree = BTree<[UInt8], Int>()
        for number in 0..<100_000 { tree.updateValue(number, forKey: Self.key(number)) }
        try tree.checkInvariants()
        var leaves = 0
        func countLeaves(_ node: BTreeNode<[UInt8], Int>) {
            if node.isLeaf { leaves += 1 } else { (0..<node.slotCount).forEach { countLeaves(node.children[$0]) } }
        }
        countLeaves(tree.root)
        // Appends split full-left, so all but the last leaf are full.
        #expect(leaves == (100_000 + BTreeLayout.maximumLeafCount - 1) / BTreeLayout.maximumLeafCount)
        // Draining from the front exercises borrowing and merging against a full spine.
        for number in 0..<99_990 { #expect(tree.removeValue(forKey: Self.key(number)) == number) }
        try tree.checkInvariants()
        #expect(tree.count == 10)
        #expect(tree.first?.value == 99_990)
        #expect(tree.last?.value == 99_999)
    }

    @Test func countOfRangeIsExact() throws {
        let tree = BTree<[UInt8], Int>(sortedEntries: (0..<50_000).map { (Self.key($0 * 2), $0) })
        try tree.checkInvariants()
        #expect(tree.count(from: Self.key(100), to: Self.key(200)) == 50)
        #expect(tree.count(from: Self.key(101), to: Self.key(201)) == 50)
        #expect(tree.count(from: Self.key(300), to: Self.key(100)) == 0)
        #expect(tree.count() == 50_000)
        #expect(tree.count(from: Self.key(99_998)) == 1)
    }

    @Test func readViewIsUnaffectedByWriter() throws {
        var tree = BTree<[UInt8], Int>()
        for number in 0..<10_000 { tree.updateValue(number, forKey: Self.key(number)) }
        let view = tree
        for number in 0..<10_000 where number % 3 == 0 { tree.removeValue(forKey: Self.key(number)) }
        for number in 10_000..<12_000 { tree.updateValue(number, forKey: Self.key(number)) }
        #expect(view.count == 10_000)
        #expect(tree.count == 10_000 - 3_334 + 2_000)
        var expected = 0
        var ordered = true
        view.forEach { _, value in
            ordered = ordered && value == expected
            expected += 1
            return true
        }
        #expect(ordered && expected == 10_000)
        // Point lookups descend without retaining nodes: through nodes the two trees share and
        // through the writer's copies, each sees its own version.
        var viewMismatches = 0
        var treeMismatches = 0
        for number in 0..<12_000 {
            if view[Self.key(number)] != (number < 10_000 ? number : nil) { viewMismatches += 1 }
            let inTree = number >= 10_000 || number % 3 != 0
            if tree.withValue(forKey: Self.key(number), { $0 * 2 }) != (inTree ? number * 2 : nil) { treeMismatches += 1 }
        }
        #expect(viewMismatches == 0 && treeMismatches == 0)
        try view.checkInvariants()
        try tree.checkInvariants()
    }

    /// A copy-on-write copy shares the keys and values it copies, and freeing the replaced node
    /// after its view goes releases only its share: the values stay intact in the copy.
    @Test func copiesAndFreedViewsKeepSharedValues() {
        var tree = BTree<[UInt8], [UInt8]>()
        for number in 0..<5_000 { tree.updateValue(Array("value \(number)".utf8), forKey: Self.key(number)) }
        for round in 0..<20 {
            let view = tree
            for number in stride(from: round, to: 5_000, by: 97) {
                tree.updateValue(Array("round \(round)".utf8), forKey: Self.key(number))
            }
            #expect(view.count == 5_000)
        }
        var wrong = 0
        for number in 0..<5_000 {
            let round = number % 97 < 20 ? number % 97 : nil
            let expected = round.map { "round \($0)" } ?? "value \(number)"
            if tree.withValue(forKey: Self.key(number), { String(decoding: $0, as: UTF8.self) }) != expected { wrong += 1 }
        }
        #expect(wrong == 0)
    }

    @Test func emptyTreeAndEmptyBulkLoad() throws {
        let tree = BTree<[UInt8], Int>(sortedEntries: [])
        #expect(tree.isEmpty)
        #expect(tree.first == nil)
        #expect(tree.count(from: [1], to: [2]) == 0)
        try tree.checkInvariants()
    }
}
