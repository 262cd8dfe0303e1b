import CPrefetch

/// Fill limits of B+-tree nodes.
///
/// A leaf of 16 entries keeps its summaries within five cache lines, so a binary search inside it
/// costs little more than the miss of reaching it, and a copy-on-write copy stays small.
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

/// The fixed part of a node.
struct BTreeNodeHeader {
    /// Leaf: entries held. Inner: children held (one more than separators).
    var slotCount: Int
    /// Entries in the subtree.
    var count: Int
    /// Whether the node is a leaf; fixed at creation.
    let isLeaf: Bool
}

/// The metadata and reference counts that precede a Swift object's stored properties.
struct HeapObjectPrefix {
    var metadata: UnsafeRawPointer
    var referenceCounts: UInt64
}

/// One node of a copy-on-write B+-tree, in one heap block: a leaf (keys and values) or an inner
/// node (separators and children).
///
/// The block holds, after the header, fixed-capacity arrays: every key's `orderSummary`, the keys,
/// and the values (leaf) or the children and their entry counts (inner). One block per node means
/// one allocation per copy-on-write copy and one cache miss to reach a node's summaries, where
/// separate arrays cost five allocations and a miss each; and the arrays need no exclusivity
/// checks, since they are reached through pointers.
///
/// In an inner node separator `i` separates child `i` (all keys `< separator`) from child `i + 1`
/// (all keys `>= separator`), and `childCount(i)` caches child `i`'s `count` so that ranking a key
/// sums a contiguous array instead of chasing one pointer per child.
///
/// Nodes on the right spine (the root and every last child of a right-spine node) may hold fewer
/// entries than the minimum: appending at the end of the tree splits a full node into a full left
/// node and a one-entry right node, so a tree filled in key order (the revision history; sequential
/// keys) ends up with full nodes instead of half-full ones.
///
/// A node is mutated only by the single owner of the tree that reached it through references that
/// `isKnownUniquelyReferenced` proved unique; a node reachable from a read view is never mutated.
/// Slots below `slotCount` (separators: below `slotCount - 1`) are initialized, the rest are not.
final class BTreeNode<Key: BTreeKey, Value: BTreeElement>: ManagedBuffer<BTreeNodeHeader, UInt64> {
    // MARK: Layout

    /// Slots of a leaf: one more than the maximum, for the entry that triggers a split.
    @inline(__always) static var leafCapacity: Int { BTreeLayout.maximumLeafCount + 1 }
    /// Child slots of an inner node: one more than the maximum, likewise.
    @inline(__always) static var innerCapacity: Int { BTreeLayout.maximumChildCount + 1 }

    @inline(__always) static func capacity(isLeaf: Bool) -> Int { isLeaf ? leafCapacity : innerCapacity }

    @inline(__always) static func aligned(_ offset: Int, _ alignment: Int) -> Int {
        (offset + alignment - 1) & ~(alignment - 1)
    }

    /// Byte offsets of the arrays after the header.
    @inline(__always) static func keysOffset(isLeaf: Bool) -> Int {
        aligned(capacity(isLeaf: isLeaf) * MemoryLayout<BTreeKeySummary>.stride, MemoryLayout<Key>.alignment)
    }

    @inline(__always) static func payloadOffset(isLeaf: Bool) -> Int {
        let keysEnd = keysOffset(isLeaf: isLeaf) + capacity(isLeaf: isLeaf) * MemoryLayout<Key>.stride
        return aligned(keysEnd, isLeaf ? MemoryLayout<Value>.alignment : MemoryLayout<BTreeNode>.alignment)
    }

    @inline(__always) static var childCountsOffset: Int {
        aligned(payloadOffset(isLeaf: false) + innerCapacity * MemoryLayout<BTreeNode>.stride,
                MemoryLayout<Int>.alignment)
    }

    @inline(__always) static func byteCount(isLeaf: Bool) -> Int {
        isLeaf
            ? payloadOffset(isLeaf: true) + leafCapacity * MemoryLayout<Value>.stride
            : childCountsOffset + innerCapacity * MemoryLayout<Int>.stride
    }

    /// An empty leaf, or an empty inner node when `isLeaf` is false (the caller fills it).
    static func make(isLeaf: Bool) -> BTreeNode {
        precondition(MemoryLayout<Key>.alignment <= 8 && MemoryLayout<Value>.alignment <= 8,
                     "BTreeNode lays out keys and values on 8-byte boundaries")
        let words = (byteCount(isLeaf: isLeaf) + 7) / 8
        let buffer = create(minimumCapacity: words) { _ in BTreeNodeHeader(slotCount: 0, count: 0, isLeaf: isLeaf) }
        let node = unsafeDowncast(buffer, to: BTreeNode.self)
        node.withUnsafeMutablePointerToElements { words in
            let raw = UnsafeMutableRawPointer(words)
            let capacity = capacity(isLeaf: isLeaf)
            raw.bindMemory(to: BTreeKeySummary.self, capacity: capacity)
            (raw + keysOffset(isLeaf: isLeaf)).bindMemory(to: Key.self, capacity: capacity)
            if isLeaf {
                (raw + payloadOffset(isLeaf: true)).bindMemory(to: Value.self, capacity: capacity)
            } else {
                (raw + payloadOffset(isLeaf: false)).bindMemory(to: BTreeNode.self, capacity: capacity)
                (raw + childCountsOffset).bindMemory(to: Int.self, capacity: capacity)
            }
        }
        return node
    }

    deinit {
        // Freeing a node that a copy replaced releases what the copy shares: the same misses.
        prefetchReferenceCounts()
        let slots = slotCount
        if isLeaf {
            keys.deinitialize(count: slots)
            values.deinitialize(count: slots)
        } else {
            keys.deinitialize(count: Swift.max(slots - 1, 0))
            children.deinitialize(count: slots)
        }
    }

    // MARK: Arrays
    //
    // The pointers stay valid while the node lives: a node's block never moves.

    /// The header, reached through a pointer: `ManagedBuffer.header` is a class property, and
    /// each access to it would pay a dynamic exclusivity check on every node of every descent.
    @inline(__always) private var fields: UnsafeMutablePointer<BTreeNodeHeader> {
        withUnsafeMutablePointerToHeader { $0 }
    }

    @inline(__always) private var base: UnsafeMutableRawPointer {
        withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
    }

    /// Each key's `orderSummary`, parallel to `keys`.
    @inline(__always) var summaries: UnsafeMutablePointer<BTreeKeySummary> {
        base.assumingMemoryBound(to: BTreeKeySummary.self)
    }

    /// Leaf: the keys in order. Inner: the separators.
    @inline(__always) var keys: UnsafeMutablePointer<Key> {
        (base + Self.keysOffset(isLeaf: isLeaf)).assumingMemoryBound(to: Key.self)
    }

    /// Leaf only: the values, parallel to `keys`.
    @inline(__always) var values: UnsafeMutablePointer<Value> {
        (base + Self.payloadOffset(isLeaf: true)).assumingMemoryBound(to: Value.self)
    }

    /// Inner only: the subtrees.
    @inline(__always) var children: UnsafeMutablePointer<BTreeNode> {
        (base + Self.payloadOffset(isLeaf: false)).assumingMemoryBound(to: BTreeNode.self)
    }

    /// Inner only: the number of entries in each subtree, parallel to `children`.
    @inline(__always) var childCounts: UnsafeMutablePointer<Int> {
        (base + Self.childCountsOffset).assumingMemoryBound(to: Int.self)
    }

    /// True for leaves.
    @inline(__always) var isLeaf: Bool { fields.pointee.isLeaf }

    /// Leaf: entries held. Inner: children held.
    @inline(__always) var slotCount: Int {
        get { fields.pointee.slotCount }
        set { fields.pointee.slotCount = newValue }
    }

    /// Keys held: the entries of a leaf, the separators of an inner node.
    @inline(__always) var keyCount: Int { isLeaf ? slotCount : Swift.max(slotCount - 1, 0) }

    /// Number of entries in this subtree.
    @inline(__always) var count: Int {
        get { fields.pointee.count }
        set { fields.pointee.count = newValue }
    }

    /// A shallow copy (children are shared) for copy-on-write.
    func copy() -> BTreeNode {
        let node = BTreeNode.make(isLeaf: isLeaf)
        node.slotCount = slotCount
        node.count = count
        let keyCount = keyCount
        prefetchReferenceCounts()
        node.summaries.initialize(from: summaries, count: keyCount)
        node.keys.initialize(from: keys, count: keyCount)
        if isLeaf {
            node.values.initialize(from: values, count: keyCount)
        } else {
            node.children.initialize(from: children, count: slotCount)
            node.childCounts.initialize(from: childCounts, count: slotCount)
        }
        return node
    }

    /// Starts loading the lines a descent through the node at `address` reads: its header and
    /// summaries, then an inner node's child pointers or a leaf's values. A binary search probes
    /// the summaries one dependent miss after another, and the slot it picks is one more; fetched
    /// together they cost about one miss.
    @inline(__always)
    static func prefetchSearchLines(_ address: UnsafeRawPointer) {
        var offset = 0
        while offset < searchBytes {
            cprefetch_read(address + offset)
            offset &+= 64
        }
    }

    /// Bytes from a node's start to the end of an inner node's children (in a leaf, that reaches
    /// most of its values).
    @inline(__always) static var searchBytes: Int {
        let elements = MemoryLayout<HeapObjectPrefix>.size + MemoryLayout<BTreeNodeHeader>.stride
        return elements + childCountsOffset
    }

    /// Starts loading every reference count a copy of this node changes (see `BTreeElement`).
    @inline(__always)
    private func prefetchReferenceCounts() {
        for index in 0..<keyCount { Key.prefetchReferenceCounts(of: keys + index) }
        if isLeaf {
            for index in 0..<slotCount { Value.prefetchReferenceCounts(of: values + index) }
        } else {
            for index in 0..<slotCount { prefetchReferenceCount(ofObjectAt: UnsafeRawPointer(children + index)) }
        }
    }

    /// Whether this node, if not on the right spine, holds too few entries.
    @inline(__always) var isUnderfull: Bool {
        slotCount < (isLeaf ? BTreeLayout.minimumLeafCount : BTreeLayout.minimumChildCount)
    }

    // MARK: Search

    /// Three-way comparison of key `index` with `key`, whose summary is `summary`.
    @inline(__always)
    func compareKey(at index: Int, with key: Key, summary: BTreeKeySummary) -> Int {
        let order = summaries[index].order(summary)
        if order != 0 || Key.summaryIsComplete(summary) { return order }
        return Key.compare(keys[index], key)
    }

    /// Index of the first key `>= key`, and whether it equals `key`.
    @inline(__always)
    func lowerBound(_ key: Key, summary: BTreeKeySummary) -> (index: Int, found: Bool) {
        var low = 0
        var high = keyCount
        while low < high {
            let middle = (low + high) &>> 1
            let order = compareKey(at: middle, with: key, summary: summary)
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

    /// Inner nodes: the index of the child whose key range holds `key` (first separator `> key`).
    @inline(__always)
    func childIndex(_ key: Key, summary: BTreeKeySummary) -> Int {
        var low = 0
        var high = keyCount
        while low < high {
            let middle = (low + high) &>> 1
            if compareKey(at: middle, with: key, summary: summary) <= 0 {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// Number of entries in this subtree with keys `< key`.
    func rank(_ key: Key, summary: BTreeKeySummary) -> Int {
        var node = self
        var rank = 0
        while !node.isLeaf {
            let index = node.childIndex(key, summary: summary)
            let counts = node.childCounts
            for position in 0..<index { rank &+= counts[position] }
            node = node.children[index]
        }
        return rank + node.lowerBound(key, summary: summary).index
    }

    // MARK: Copy-on-write descent

    /// Makes child `index` uniquely owned by this node, copying it if a read view shares it.
    @inline(__always)
    func makeChildUnique(_ index: Int) {
        Self.prefetchSearchLines(UnsafeRawPointer(children + index).load(as: UnsafeRawPointer.self))
        if !isKnownUniquelyReferenced(&children[index]) {
            children[index] = children[index].copy()
        }
    }
}

// MARK: Slot arrays

/// Opens slot `index` of the `count` initialized slots at `base` by moving the later ones up, and
/// initializes it to `element`.
@inline(__always)
func insertSlot<Element>(_ base: UnsafeMutablePointer<Element>, count: Int, at index: Int, _ element: Element) {
    (base + index + 1).moveInitialize(from: base + index, count: count - index)
    (base + index).initialize(to: element)
}

/// Takes slot `index` out of the `count` initialized slots at `base`, closing the gap.
@inline(__always)
func removeSlot<Element>(_ base: UnsafeMutablePointer<Element>, count: Int, at index: Int) -> Element {
    let element = (base + index).move()
    (base + index).moveInitialize(from: base + index + 1, count: count - index - 1)
    return element
}
