/// Fill limits of B+-tree nodes.
///
/// 64 entries keep a node's prefix array within a few cache lines, so a binary search inside a node
/// costs little more than the one cache miss of reaching the node, and inserting shifts at most a
/// few hundred bytes.
enum BTreeLayout {
    /// Most entries a leaf holds; one more triggers a split.
    static let maximumLeafCount = 16
    /// Fewest entries a leaf off the right spine holds; one fewer triggers a borrow or merge.
    static let minimumLeafCount = maximumLeafCount / 2
    /// Most children an inner node holds.
    static let maximumChildCount = 32
    /// Fewest children an inner node off the right spine holds.
    static let minimumChildCount = maximumChildCount / 2
}

/// One node of a copy-on-write B+-tree: a leaf (keys and values) or an inner node (separators and
/// children).
///
/// In an inner node `keys[i]` separates `children[i]` (all keys `< keys[i]`) from
/// `children[i + 1]` (all keys `>= keys[i]`), and `childCounts[i]` caches `children[i].count` so
/// that ranking a key sums a contiguous array instead of chasing one pointer per child.
///
/// Nodes on the right spine (the root and every last child of a right-spine node) may hold fewer
/// entries than the minimum: appending at the end of the tree splits a full node into a full left
/// node and a one-entry right node, so a tree filled in key order (the revision history; sequential
/// keys) ends up with full nodes instead of half-full ones.
///
/// A node is mutated only by the single owner of the tree that reached it through references that
/// `isKnownUniquelyReferenced` proved unique; a node reachable from a read view is never mutated.
///
/// - Complexity: search, insert and remove are O(log n); arrays are preallocated to their maximum
///   so inserts do not reallocate.
final class BTreeNode<Key: BTreeKey, Value> {
    /// `orderPrefix` of each key, kept inline for cache-friendly binary search.
    var prefixes: ContiguousArray<UInt64>
    /// Leaf: the keys in order. Inner: the separators (one fewer than children).
    var keys: ContiguousArray<Key>
    /// Leaf only: the values, parallel to `keys`.
    var values: ContiguousArray<Value>
    /// Inner only: the subtrees.
    var children: ContiguousArray<BTreeNode>
    /// Inner only: the number of entries in each subtree, parallel to `children`.
    var childCounts: ContiguousArray<Int>
    /// Number of entries in this subtree.
    var count: Int

    /// An empty leaf, or an empty inner node when `isLeaf` is false (the caller fills it).
    init(isLeaf: Bool) {
        let keyCapacity = isLeaf ? BTreeLayout.maximumLeafCount + 1 : BTreeLayout.maximumChildCount
        prefixes = ContiguousArray()
        prefixes.reserveCapacity(keyCapacity)
        keys = ContiguousArray()
        keys.reserveCapacity(keyCapacity)
        values = ContiguousArray()
        children = ContiguousArray()
        childCounts = ContiguousArray()
        if isLeaf {
            values.reserveCapacity(keyCapacity)
        } else {
            children.reserveCapacity(BTreeLayout.maximumChildCount + 1)
            childCounts.reserveCapacity(BTreeLayout.maximumChildCount + 1)
        }
        count = 0
    }

    /// True for leaves. Inner nodes always have at least one child.
    @inline(__always) var isLeaf: Bool { children.isEmpty }

    /// A shallow copy (children are shared) for copy-on-write.
    func copy() -> BTreeNode {
        let node = BTreeNode(isLeaf: isLeaf)
        node.prefixes.append(contentsOf: prefixes)
        node.keys.append(contentsOf: keys)
        node.values.append(contentsOf: values)
        node.children.append(contentsOf: children)
        node.childCounts.append(contentsOf: childCounts)
        node.count = count
        return node
    }

    /// Whether this node, if not on the right spine, holds too few entries.
    @inline(__always) var isUnderfull: Bool {
        isLeaf ? keys.count < BTreeLayout.minimumLeafCount : children.count < BTreeLayout.minimumChildCount
    }

    // MARK: Search

    /// Index of the first key `>= key`, and whether it equals `key`.
    @inline(__always)
    func lowerBound(_ key: Key, prefix: UInt64) -> (index: Int, found: Bool) {
        prefixes.withUnsafeBufferPointer { prefixes in
            keys.withUnsafeBufferPointer { keys in
                var low = 0
                var high = prefixes.count
                while low < high {
                    let middle = (low + high) &>> 1
                    let candidate = prefixes[middle]
                    let order = candidate != prefix ? (candidate < prefix ? -1 : 1) : Key.compare(keys[middle], key)
                    if order < 0 {
                        low = middle + 1
                    } else if order > 0 {
                        high = middle
                    } else {
                        return (middle, true)
                    }
                }
                return (low, false)
            }
        }
    }

    /// Inner nodes: the index of the child whose key range holds `key` (first separator `> key`).
    @inline(__always)
    func childIndex(_ key: Key, prefix: UInt64) -> Int {
        prefixes.withUnsafeBufferPointer { prefixes in
            keys.withUnsafeBufferPointer { keys in
                var low = 0
                var high = prefixes.count
                while low < high {
                    let middle = (low + high) &>> 1
                    let candidate = prefixes[middle]
                    let order = candidate != prefix ? (candidate < prefix ? -1 : 1) : Key.compare(keys[middle], key)
                    if order <= 0 {
                        low = middle + 1
                    } else {
                        high = middle
                    }
                }
                return low
            }
        }
    }

    /// Number of entries in this subtree with keys `< key`.
    func rank(_ key: Key, prefix: UInt64) -> Int {
        var node = self
        var rank = 0
        while !node.isLeaf {
            let index = node.childIndex(key, prefix: prefix)
            rank += node.childCounts.withUnsafeBufferPointer { counts in
                var sum = 0
                for position in 0..<index { sum &+= counts[position] }
                return sum
            }
            node = node.children[index]
        }
        return rank + node.lowerBound(key, prefix: prefix).index
    }

    // MARK: Copy-on-write descent

    /// Makes `children[index]` uniquely owned by this node, copying it if a read view shares it.
    @inline(__always)
    func makeChildUnique(_ index: Int) {
        if !isKnownUniquelyReferenced(&children[index]) {
            children[index] = children[index].copy()
        }
    }
}
