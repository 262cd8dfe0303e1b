/// A copy-on-write B+-tree: an ordered map from keys to values.
///
/// Copying a `BTree` is O(1) and yields an immutable read view: the copy shares every node, and the
/// next mutation of either copy duplicates only the nodes on its path (the others stay shared).
/// This is how the MVCC store gives readers a consistent snapshot without blocking its writer,
/// in the manner of bbolt's copy-on-write pages.
///
/// Every subtree caches its entry count, so counting the keys of a range is O(log n).
///
/// - Complexity: lookup, insert, update and remove are O(log n); a range visit is
///   O(log n + visited); `count(from:to:)` is O(log n); a copy is O(1); the first mutation after
///   a copy is O(log n) extra.
package struct BTree<Key: BTreeKey, Value: BTreeElement> {
    var root: BTreeNode<Key, Value>

    /// An empty tree.
    package init() {
        root = BTreeNode.make(isLeaf: true)
    }

    init(root: BTreeNode<Key, Value>) {
        self.root = root
    }

    /// The number of entries.
    package var count: Int { root.count }

    /// Whether the tree has no entries.
    package var isEmpty: Bool { root.count == 0 }

    /// The value stored under `key`, if any.
    package func value(forKey key: Key) -> Value? {
        withValue(forKey: key) { $0 }
    }

    /// The result of `body` applied in place to the value stored under `key`, or nil if there is
    /// none: a read that needs part of a value need not copy (and retain) all of it.
    ///
    /// The descent takes no references: this tree holds the root, each node its children, and a
    /// node reachable from a tree is never mutated while another tree shares it. Not retaining
    /// matters because a retain is an atomic read-modify-write, which on x86 also keeps the next
    /// read's loads waiting until a missed node arrives.
    @inline(__always)
    package func withValue<Result>(forKey key: Key, _ body: (borrowing Value) -> Result) -> Result? {
        let summary = key.orderSummary
        return withExtendedLifetime(root) { root in
            var node = Unmanaged.passUnretained(root)
            while let child = node._withUnsafeGuaranteedRef({ inner -> Unmanaged<BTreeNode<Key, Value>>? in
                if inner.isLeaf { return nil }
                let slot = UnsafeRawPointer(inner.children + inner.childIndex(key, summary: summary))
                let child = slot.load(as: UnsafeRawPointer.self)
                BTreeNode<Key, Value>.prefetchSearchLines(child)
                return Unmanaged.fromOpaque(child)
            }) {
                node = child
            }
            return node._withUnsafeGuaranteedRef { leaf in
                let (index, found) = leaf.lowerBound(key, summary: summary)
                return found ? body(leaf.values[index]) : nil
            }
        }
    }

    /// The value stored under `key`, if any.
    package subscript(key: Key) -> Value? { value(forKey: key) }

    /// Stores `value` under `key`, returning the value it replaced.
    @discardableResult
    package mutating func updateValue(_ value: Value, forKey key: Key) -> Value? {
        var replaced: Value?
        upsert(key, create: { value }, update: { old in
            replaced = old
            old = value
        })
        return replaced
    }

    /// Creates the entry for `key` with `create()`, or mutates its existing value in place with
    /// `update`, in a single descent.
    package mutating func upsert(_ key: Key, create: () -> Value, update: (inout Value) -> Void) {
        makeRootUnique()
        var inserted = false
        guard let split = root.upsert(
            key, summary: key.orderSummary, onRightSpine: true, inserted: &inserted, create: create, update: update)
        else { return }
        let newRoot = BTreeNode<Key, Value>.make(isLeaf: false)
        newRoot.children.initialize(to: root)
        newRoot.childCounts.initialize(to: root.count)
        newRoot.slotCount = 1
        newRoot.count = root.count + split.node.count
        newRoot.insertChild(split, at: 1)
        root = newRoot
    }

    /// Removes `key`, returning its value if it was present.
    @discardableResult
    package mutating func removeValue(forKey key: Key) -> Value? {
        makeRootUnique()
        let value = root.remove(key, summary: key.orderSummary)
        // A root left with one child (or none) gives way to it, keeping every leaf at one depth.
        while !root.isLeaf && root.slotCount <= 1 {
            root = root.slotCount == 1 ? root.children[0] : BTreeNode.make(isLeaf: true)
        }
        return value
    }

    /// Visits the entries with `lower <= key < upper` (a nil bound is open), in ascending order, or
    /// descending when `reverse` is set, until `body` returns false.
    package func forEach(
        from lower: Key? = nil,
        to upper: Key? = nil,
        reverse: Bool = false,
        _ body: (Key, Value) -> Bool
    ) {
        let lowerBound = lower.map { (key: $0, summary: $0.orderSummary) }
        let upperBound = upper.map { (key: $0, summary: $0.orderSummary) }
        if let lower, let upper, Key.compare(lower, upper) >= 0 { return }
        if reverse {
            _ = root.visitDescending(from: upperBound, to: lowerBound, body)
        } else {
            _ = root.visitAscending(from: lowerBound, to: upperBound, body)
        }
    }

    /// The number of entries with `lower <= key < upper` (a nil bound is open).
    /// - Complexity: O(log n).
    package func count(from lower: Key? = nil, to upper: Key? = nil) -> Int {
        let below = lower.map { root.rank($0, summary: $0.orderSummary) } ?? 0
        let atOrAbove = upper.map { root.rank($0, summary: $0.orderSummary) } ?? root.count
        return Swift.max(0, atOrAbove - below)
    }

    /// The entry with the smallest key.
    package var first: (key: Key, value: Value)? {
        var result: (key: Key, value: Value)?
        forEach { key, value in
            result = (key, value)
            return false
        }
        return result
    }

    /// The entry with the largest key.
    package var last: (key: Key, value: Value)? {
        var result: (key: Key, value: Value)?
        forEach(reverse: true) { key, value in
            result = (key, value)
            return false
        }
        return result
    }

    private mutating func makeRootUnique() {
        if !isKnownUniquelyReferenced(&root) {
            root = root.copy()
        }
    }
}

// A node is mutated only after `isKnownUniquelyReferenced` proved that the mutating tree holds the
// sole reference, so a node visible to another thread (through a copied tree) is never mutated;
// this is the same argument that makes `Array` Sendable. (`ManagedBuffer`, which a node is, is not
// Sendable itself, so the claim is made for the tree that owns the nodes.)
extension BTree: @unchecked Sendable where Value: Sendable {}
