extension BTreeNode {
    /// Removes `key` from this subtree and returns its value, rebalancing children that became
    /// underfull. This node itself may be left underfull; its parent rebalances it.
    func remove(_ key: Key, prefix: UInt64) -> Value? {
        if isLeaf {
            let (index, found) = lowerBound(key, prefix: prefix)
            guard found else { return nil }
            prefixes.remove(at: index)
            keys.remove(at: index)
            count -= 1
            return values.remove(at: index)
        }
        let index = childIndex(key, prefix: prefix)
        makeChildUnique(index)
        guard let value = children[index].remove(key, prefix: prefix) else { return nil }
        count -= 1
        childCounts[index] -= 1
        rebalanceChild(at: index)
        return value
    }

    /// Restores the fill of `children[index]` after a removal: drops it when empty (only right-spine
    /// nodes get there), otherwise borrows one entry from a sibling that can spare one, otherwise
    /// merges with that sibling.
    private func rebalanceChild(at index: Int) {
        let child = children[index]
        if child.count == 0 {
            children.remove(at: index)
            childCounts.remove(at: index)
            let separator = index > 0 ? index - 1 : 0
            if separator < keys.count {
                prefixes.remove(at: separator)
                keys.remove(at: separator)
            }
            return
        }
        guard child.isUnderfull, children.count > 1 else { return }
        let siblingIndex = index > 0 ? index - 1 : index + 1
        makeChildUnique(siblingIndex)
        let sibling = children[siblingIndex]
        let canLend = sibling.isLeaf
            ? sibling.keys.count > BTreeLayout.minimumLeafCount
            : sibling.children.count > BTreeLayout.minimumChildCount
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

    /// Moves the last entry of `children[index - 1]` to the front of `children[index]`.
    private func borrowFromLeft(into index: Int) {
        let left = children[index - 1]
        let child = children[index]
        let moved: Int
        if child.isLeaf {
            child.prefixes.insert(left.prefixes.removeLast(), at: 0)
            child.keys.insert(left.keys.removeLast(), at: 0)
            child.values.insert(left.values.removeLast(), at: 0)
            prefixes[index - 1] = child.prefixes[0]
            keys[index - 1] = child.keys[0]
            moved = 1
        } else {
            child.prefixes.insert(prefixes[index - 1], at: 0)
            child.keys.insert(keys[index - 1], at: 0)
            prefixes[index - 1] = left.prefixes.removeLast()
            keys[index - 1] = left.keys.removeLast()
            child.children.insert(left.children.removeLast(), at: 0)
            moved = left.childCounts.removeLast()
            child.childCounts.insert(moved, at: 0)
        }
        left.count -= moved
        child.count += moved
        childCounts[index - 1] = left.count
        childCounts[index] = child.count
    }

    /// Moves the first entry of `children[index + 1]` to the end of `children[index]`.
    private func borrowFromRight(into index: Int) {
        let right = children[index + 1]
        let child = children[index]
        let moved: Int
        if child.isLeaf {
            child.prefixes.append(right.prefixes.removeFirst())
            child.keys.append(right.keys.removeFirst())
            child.values.append(right.values.removeFirst())
            prefixes[index] = right.prefixes[0]
            keys[index] = right.keys[0]
            moved = 1
        } else {
            child.prefixes.append(prefixes[index])
            child.keys.append(keys[index])
            prefixes[index] = right.prefixes.removeFirst()
            keys[index] = right.keys.removeFirst()
            child.children.append(right.children.removeFirst())
            moved = right.childCounts.removeFirst()
            child.childCounts.append(moved)
        }
        right.count -= moved
        child.count += moved
        childCounts[index + 1] = right.count
        childCounts[index] = child.count
    }

    /// Appends `children[index + 1]` to `children[index]` and drops it; the separator between them
    /// moves down when they are inner nodes.
    private func merge(at index: Int) {
        let left = children[index]
        let right = children[index + 1]
        if !left.isLeaf {
            left.prefixes.append(prefixes[index])
            left.keys.append(keys[index])
        }
        left.prefixes.append(contentsOf: right.prefixes)
        left.keys.append(contentsOf: right.keys)
        left.values.append(contentsOf: right.values)
        left.children.append(contentsOf: right.children)
        left.childCounts.append(contentsOf: right.childCounts)
        left.count += right.count
        prefixes.remove(at: index)
        keys.remove(at: index)
        children.remove(at: index + 1)
        childCounts.remove(at: index + 1)
        childCounts[index] = left.count
    }
}
