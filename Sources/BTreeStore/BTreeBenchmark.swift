/// Timing loops over the B+-tree specialized for the store's key and value types.
///
/// They live in the module because a generic `BTree` used from another module runs unspecialized
/// (through witness tables and runtime metadata), which measures the generic runtime rather than
/// the tree; the store itself always uses the tree from inside this module.
package enum BTreeBenchmark {
    /// Inserts every key in order with `value`, returning the tree.
    package static func insert(_ keys: [[UInt8]], value: [UInt8]) -> BTree<[UInt8], [UInt8]> {
        var tree = BTree<[UInt8], [UInt8]>()
        for key in keys { tree.updateValue(value, forKey: key) }
        return tree
    }

    /// Looks every key up, returning how many were found.
    package static func lookup(_ keys: [[UInt8]], in tree: BTree<[UInt8], [UInt8]>) -> Int {
        var found = 0
        for key in keys where tree.value(forKey: key) != nil { found += 1 }
        return found
    }

    /// Counts `lower..<upper` `repetitions` times, returning the sum of the counts.
    package static func count(from lower: [UInt8], to upper: [UInt8], in tree: BTree<[UInt8], [UInt8]>,
                              repetitions: Int) -> Int {
        var total = 0
        for _ in 0..<repetitions { total &+= tree.count(from: lower, to: upper) }
        return total
    }

    /// Bulk-loads the keys (ascending) with `value`.
    package static func bulkLoad(_ keys: [[UInt8]], value: [UInt8]) -> BTree<[UInt8], [UInt8]> {
        BTree(sortedEntries: keys.lazy.map { ($0, value) })
    }
}
extension BTreeBenchmark {
    /// Serves a Range of one key for each number (its 8-byte big-endian key), as the server does:
    /// a key decoded fresh for each request. Returns how many keys were found.
    ///
    /// The loop lives here, off the main actor, so that it measures the store and not the
    /// isolation checks of a top-level loop.
    package static func pointReads(_ numbers: [Int], view: ReadView) throws(MVCCError) -> Int {
        var found = 0
        for number in numbers {
            let key = withUnsafeBytes(of: UInt64(number).bigEndian) { Array($0) }
            if try !view.range(RangeRequest(key: key)).kvs.isEmpty { found += 1 }
        }
        return found
    }
}
