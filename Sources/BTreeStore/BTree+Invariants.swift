/// A broken B+-tree invariant, found by `BTree.checkInvariants()`.
package struct BTreeInvariantViolation: Error, CustomStringConvertible {
    /// What is wrong, and where.
    package var description: String
}

extension BTree {
    /// Verifies the structure: keys strictly ascending within and across nodes and bounded by the
    /// separators above them, cached summaries and counts correct, every leaf at the same depth, and
    /// every node off the right spine (and not the root) at least half full.
    ///
    /// - Complexity: O(n); meant for tests.
    package func checkInvariants() throws(BTreeInvariantViolation) {
        var leafDepth: Int?
        var previousKey: Key?
        try check(root, depth: 0, isRoot: true, onRightSpine: true, lower: nil, upper: nil,
                  leafDepth: &leafDepth, previousKey: &previousKey)
    }

    private func check(
        _ node: BTreeNode<Key, Value>, depth: Int, isRoot: Bool, onRightSpine: Bool,
        lower: Key?, upper: Key?, leafDepth: inout Int?, previousKey: inout Key?
    ) throws(BTreeInvariantViolation) {
        func fail(_ message: String) -> BTreeInvariantViolation {
            BTreeInvariantViolation(description: "depth \(depth): \(message)")
        }
        let keys = (0..<node.keyCount).map { node.keys[$0] }
        for (index, key) in keys.enumerated() where node.summaries[index] != key.orderSummary {
            throw fail("stale summary for key \(key)")
        }
        for key in keys {
            if let lower, Key.compare(key, lower) < 0 { throw fail("key \(key) below separator \(lower)") }
            if let upper, Key.compare(key, upper) >= 0 { throw fail("key \(key) not below separator \(upper)") }
        }
        if node.isLeaf {
            guard node.count == keys.count else { throw fail("leaf count \(node.count) != \(keys.count)") }
            guard keys.count <= BTreeLayout.maximumLeafCount else { throw fail("leaf overfull") }
            if !isRoot {
                let minimum = onRightSpine ? 1 : BTreeLayout.minimumLeafCount
                guard keys.count >= minimum else { throw fail("leaf underfull: \(keys.count)") }
            }
            if let leafDepth, leafDepth != depth { throw fail("leaf at depth \(depth), another at \(leafDepth)") }
            leafDepth = depth
            for key in keys {
                if let previousKey, Key.compare(previousKey, key) >= 0 { throw fail("keys out of order at \(key)") }
                previousKey = key
            }
            return
        }
        let childCount = node.slotCount
        guard childCount <= BTreeLayout.maximumChildCount else { throw fail("inner node overfull") }
        let minimum = isRoot ? 2 : (onRightSpine ? 1 : BTreeLayout.minimumChildCount)
        guard childCount >= minimum else { throw fail("inner node underfull: \(childCount)") }
        var total = 0
        for index in 0..<childCount {
            let child = node.children[index]
            guard node.childCounts[index] == child.count else { throw fail("stale child count at \(index)") }
            total += child.count
            try check(
                child, depth: depth + 1, isRoot: false,
                onRightSpine: onRightSpine && index == childCount - 1,
                lower: index == 0 ? lower : keys[index - 1],
                upper: index == keys.count ? upper : keys[index],
                leafDepth: &leafDepth, previousKey: &previousKey)
        }
        guard total == node.count else { throw fail("count \(node.count) != sum of children \(total)") }
    }
}
