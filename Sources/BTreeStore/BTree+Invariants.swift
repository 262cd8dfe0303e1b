/// A broken B+-tree invariant, found by `BTree.checkInvariants()`.
package struct BTreeInvariantViolation: Error, CustomStringConvertible {
    /// What is wrong, and where.
    package var description: String
}

extension BTree {
    /// Verifies the structure: keys strictly ascending within and across nodes and bounded by the
    /// separators above them, cached prefixes and counts correct, every leaf at the same depth, and
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
        guard node.prefixes.count == node.keys.count else { throw fail("prefix and key counts differ") }
        for (prefix, key) in zip(node.prefixes, node.keys) where prefix != key.orderPrefix {
            throw fail("stale prefix for key \(key)")
        }
        for key in node.keys {
            if let lower, Key.compare(key, lower) < 0 { throw fail("key \(key) below separator \(lower)") }
            if let upper, Key.compare(key, upper) >= 0 { throw fail("key \(key) not below separator \(upper)") }
        }
        if node.isLeaf {
            guard node.values.count == node.keys.count else { throw fail("value and key counts differ") }
            guard node.count == node.keys.count else { throw fail("leaf count \(node.count) != \(node.keys.count)") }
            guard node.keys.count <= BTreeLayout.maximumLeafCount else { throw fail("leaf overfull") }
            if !isRoot {
                let minimum = onRightSpine ? 1 : BTreeLayout.minimumLeafCount
                guard node.keys.count >= minimum else { throw fail("leaf underfull: \(node.keys.count)") }
            }
            if let leafDepth, leafDepth != depth { throw fail("leaf at depth \(depth), another at \(leafDepth)") }
            leafDepth = depth
            for key in node.keys {
                if let previousKey, Key.compare(previousKey, key) >= 0 { throw fail("keys out of order at \(key)") }
                previousKey = key
            }
            return
        }
        guard node.values.isEmpty else { throw fail("inner node holds values") }
        guard node.keys.count == node.children.count - 1 else { throw fail("separator count mismatch") }
        guard node.childCounts.count == node.children.count else { throw fail("child count array mismatch") }
        guard node.children.count <= BTreeLayout.maximumChildCount else { throw fail("inner node overfull") }
        let minimum = isRoot ? 2 : (onRightSpine ? 1 : BTreeLayout.minimumChildCount)
        guard node.children.count >= minimum else { throw fail("inner node underfull: \(node.children.count)") }
        var total = 0
        for (index, child) in node.children.enumerated() {
            guard node.childCounts[index] == child.count else { throw fail("stale child count at \(index)") }
            total += child.count
            try check(
                child, depth: depth + 1, isRoot: false,
                onRightSpine: onRightSpine && index == node.children.count - 1,
                lower: index == 0 ? lower : node.keys[index - 1],
                upper: index == node.keys.count ? upper : node.keys[index],
                leafDepth: &leafDepth, previousKey: &previousKey)
        }
        guard total == node.count else { throw fail("count \(node.count) != sum of children \(total)") }
    }
}
