/// The right half of a node that overflowed, to be linked into the parent.
struct BTreeSplit<Key: BTreeKey, Value: BTreeElement> {
    /// `orderSummary` of `separator`.
    var summary: BTreeKeySummary
    /// The smallest key of `node`'s subtree.
    var separator: Key
    /// The new right sibling.
    var node: BTreeNode<Key, Value>
}

extension BTreeNode {
    /// Inserts `key` with `create()` or, if present, applies `update` to its value in place.
    ///
    /// - Parameters:
    ///   - onRightSpine: whether this node is the last node of its level; an append there splits
    ///     unevenly so sequentially filled trees stay full.
    ///   - inserted: set to true when a new entry was created.
    /// - Returns: the right half if this node overflowed.
    func upsert(
        _ key: Key,
        summary: BTreeKeySummary,
        onRightSpine: Bool,
        inserted: inout Bool,
        create: () -> Value,
        update: (inout Value) -> Void
    ) -> BTreeSplit<Key, Value>? {
        if isLeaf {
            let (index, found) = lowerBound(key, summary: summary)
            if found {
                update(&values[index])
                return nil
            }
            let slots = slotCount
            insertSlot(summaries, count: slots, at: index, summary)
            insertSlot(keys, count: slots, at: index, key)
            insertSlot(values, count: slots, at: index, create())
            slotCount = slots + 1
            count += 1
            inserted = true
            guard slots + 1 > BTreeLayout.maximumLeafCount else { return nil }
            return splitLeaf(appending: onRightSpine && index == slots)
        }
        let index = childIndex(key, summary: summary)
        makeChildUnique(index)
        let child = children[index]
        let lastChild = index == slotCount - 1
        let split = child.upsert(
            key, summary: summary, onRightSpine: onRightSpine && lastChild,
            inserted: &inserted, create: create, update: update)
        if inserted {
            count += 1
            childCounts[index] += 1
        }
        guard let split else { return nil }
        childCounts[index] = child.count
        insertChild(split, at: index + 1)
        guard slotCount > BTreeLayout.maximumChildCount else { return nil }
        return splitInner(appending: onRightSpine && lastChild)
    }

    /// Inner nodes: links `split.node` as child `index`, with `split.separator` before it. The
    /// entries are already counted in this subtree.
    func insertChild(_ split: BTreeSplit<Key, Value>, at index: Int) {
        let slots = slotCount
        insertSlot(summaries, count: slots - 1, at: index - 1, split.summary)
        insertSlot(keys, count: slots - 1, at: index - 1, split.separator)
        insertSlot(children, count: slots, at: index, split.node)
        insertSlot(childCounts, count: slots, at: index, split.node.count)
        slotCount = slots + 1
    }

    /// Moves the upper part of an overfull leaf into a new right sibling.
    private func splitLeaf(appending: Bool) -> BTreeSplit<Key, Value> {
        let slots = slotCount
        let middle = appending ? slots - 1 : slots / 2
        let moved = slots - middle
        let right = BTreeNode.make(isLeaf: true)
        right.summaries.moveInitialize(from: summaries + middle, count: moved)
        right.keys.moveInitialize(from: keys + middle, count: moved)
        right.values.moveInitialize(from: values + middle, count: moved)
        right.slotCount = moved
        right.count = moved
        slotCount = middle
        count = middle
        return BTreeSplit(summary: right.summaries[0], separator: right.keys[0], node: right)
    }

    /// Moves the upper children of an overfull inner node into a new right sibling; the separator
    /// between the halves moves up to the parent.
    private func splitInner(appending: Bool) -> BTreeSplit<Key, Value> {
        let slots = slotCount
        let middle = appending ? slots - 1 : slots / 2
        let right = BTreeNode.make(isLeaf: false)
        // Separators middle..<slots-1 go right; separator middle-1 goes up.
        let movedSeparators = slots - 1 - middle
        right.summaries.moveInitialize(from: summaries + middle, count: movedSeparators)
        right.keys.moveInitialize(from: keys + middle, count: movedSeparators)
        right.children.moveInitialize(from: children + middle, count: slots - middle)
        right.childCounts.moveInitialize(from: childCounts + middle, count: slots - middle)
        let split = BTreeSplit(summary: summaries[middle - 1], separator: (keys + middle - 1).move(), node: right)
        right.slotCount = slots - middle
        var rightCount = 0
        for index in 0..<right.slotCount { rightCount += right.childCounts[index] }
        right.count = rightCount
        slotCount = middle
        count -= rightCount
        return split
    }
}
