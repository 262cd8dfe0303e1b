extension BTreeNode {
    /// Removes `key` from this subtree and returns its value, rebalancing children that became
    /// underfull. This node itself may be left underfull; its parent rebalances it.
    func remove(_ key: Key, summary: BTreeKeySummary) -> Value? {
        if isLeaf {
            let (index, found) = lowerBound(key, summary: summary)
            guard found else { return nil }
            let slots = slotCount
            _ = removeSlot(summaries, count: slots, at: index)
            _ = removeSlot(keys, count: slots, at: index)
            let value = removeSlot(values, count: slots, at: index)
            slotCount = slots - 1
            count -= 1
            return value
        }
        let index = childIndex(key, summary: summary)
        makeChildUnique(index)
        guard let value = children[index].remove(key, summary: summary) else { return nil }
        count -= 1
        childCounts[index] -= 1
        rebalanceChild(at: index)
        return value
    }

    /// Restores the fill of child `index` after a removal: drops it when empty (only right-spine
    /// nodes get there), otherwise borrows one entry from a sibling that can spare one, otherwise
    /// merges with that sibling.
    private func rebalanceChild(at index: Int) {
        let child = children[index]
        if child.count == 0 {
            let slots = slotCount
            _ = removeSlot(children, count: slots, at: index)
            _ = removeSlot(childCounts, count: slots, at: index)
            if slots > 1 {
                let separator = index > 0 ? index - 1 : 0
                _ = removeSlot(summaries, count: slots - 1, at: separator)
                _ = removeSlot(keys, count: slots - 1, at: separator)
            }
            slotCount = slots - 1
            return
        }
        guard child.isUnderfull, slotCount > 1 else { return }
        let siblingIndex = index > 0 ? index - 1 : index + 1
        makeChildUnique(siblingIndex)
        let sibling = children[siblingIndex]
        let canLend = sibling.slotCount > (sibling.isLeaf ? BTreeLayout.minimumLeafCount : BTreeLayout.minimumChildCount)
        if canLend {
            if siblingIndex < index {
                borrowFromLeft(into: index)
            } else {
                borrowFromRight(into: index)
            }
        } else {
            merge(at: Swift.min(index, siblingIndex))
        }
    }

    /// Moves the last entry of child `index - 1` to the front of child `index`.
    private func borrowFromLeft(into index: Int) {
        let left = children[index - 1]
        let child = children[index]
        let leftSlots = left.slotCount
        let childSlots = child.slotCount
        let moved: Int
        if child.isLeaf {
            insertSlot(child.summaries, count: childSlots, at: 0, (left.summaries + leftSlots - 1).move())
            insertSlot(child.keys, count: childSlots, at: 0, (left.keys + leftSlots - 1).move())
            insertSlot(child.values, count: childSlots, at: 0, (left.values + leftSlots - 1).move())
            summaries[index - 1] = child.summaries[0]
            keys[index - 1] = child.keys[0]
            moved = 1
        } else {
            // The parent's separator moves down in front of the child's; the left sibling's last
            // separator moves up in its place.
            insertSlot(child.summaries, count: childSlots - 1, at: 0, summaries[index - 1])
            insertSlot(child.keys, count: childSlots - 1, at: 0, (keys + index - 1).move())
            summaries[index - 1] = left.summaries[leftSlots - 2]
            (keys + index - 1).initialize(to: (left.keys + leftSlots - 2).move())
            insertSlot(child.children, count: childSlots, at: 0, (left.children + leftSlots - 1).move())
            moved = left.childCounts[leftSlots - 1]
            insertSlot(child.childCounts, count: childSlots, at: 0, moved)
        }
        left.slotCount = leftSlots - 1
        child.slotCount = childSlots + 1
        left.count -= moved
        child.count += moved
        childCounts[index - 1] = left.count
        childCounts[index] = child.count
    }

    /// Moves the first entry of child `index + 1` to the end of child `index`.
    private func borrowFromRight(into index: Int) {
        let right = children[index + 1]
        let child = children[index]
        let rightSlots = right.slotCount
        let childSlots = child.slotCount
        let moved: Int
        if child.isLeaf {
            (child.summaries + childSlots).initialize(to: removeSlot(right.summaries, count: rightSlots, at: 0))
            (child.keys + childSlots).initialize(to: removeSlot(right.keys, count: rightSlots, at: 0))
            (child.values + childSlots).initialize(to: removeSlot(right.values, count: rightSlots, at: 0))
            summaries[index] = right.summaries[0]
            keys[index] = right.keys[0]
            moved = 1
        } else {
            (child.summaries + childSlots - 1).initialize(to: summaries[index])
            (child.keys + childSlots - 1).initialize(to: (keys + index).move())
            summaries[index] = removeSlot(right.summaries, count: rightSlots - 1, at: 0)
            (keys + index).initialize(to: removeSlot(right.keys, count: rightSlots - 1, at: 0))
            (child.children + childSlots).initialize(to: removeSlot(right.children, count: rightSlots, at: 0))
            moved = removeSlot(right.childCounts, count: rightSlots, at: 0)
            (child.childCounts + childSlots).initialize(to: moved)
        }
        right.slotCount = rightSlots - 1
        child.slotCount = childSlots + 1
        right.count -= moved
        child.count += moved
        childCounts[index + 1] = right.count
        childCounts[index] = child.count
    }

    /// Appends child `index + 1` to child `index` and drops it; the separator between them moves
    /// down when they are inner nodes.
    private func merge(at index: Int) {
        let left = children[index]
        let right = children[index + 1]
        let slots = slotCount
        let separatorSummary = removeSlot(summaries, count: slots - 1, at: index)
        let separator = removeSlot(keys, count: slots - 1, at: index)
        let leftSlots = left.slotCount
        let rightSlots = right.slotCount
        if left.isLeaf {
            (left.summaries + leftSlots).moveInitialize(from: right.summaries, count: rightSlots)
            (left.keys + leftSlots).moveInitialize(from: right.keys, count: rightSlots)
            (left.values + leftSlots).moveInitialize(from: right.values, count: rightSlots)
        } else {
            (left.summaries + leftSlots - 1).initialize(to: separatorSummary)
            (left.keys + leftSlots - 1).initialize(to: separator)
            (left.summaries + leftSlots).moveInitialize(from: right.summaries, count: rightSlots - 1)
            (left.keys + leftSlots).moveInitialize(from: right.keys, count: rightSlots - 1)
            (left.children + leftSlots).moveInitialize(from: right.children, count: rightSlots)
            (left.childCounts + leftSlots).moveInitialize(from: right.childCounts, count: rightSlots)
        }
        left.slotCount = leftSlots + rightSlots
        left.count += right.count
        // Everything moved out: the emptied node must not deinitialize it again.
        right.slotCount = 0
        right.count = 0
        _ = removeSlot(children, count: slots, at: index + 1)
        _ = removeSlot(childCounts, count: slots, at: index + 1)
        slotCount = slots - 1
        childCounts[index] = left.count
    }
}
