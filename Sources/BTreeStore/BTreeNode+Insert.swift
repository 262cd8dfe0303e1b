/// The right half of a node that overflowed, to be linked into the parent.
struct BTreeSplit<Key: BTreeKey, Value> {
    /// `orderPrefix` of `separator`.
    var prefix: UInt64
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
        prefix: UInt64,
        onRightSpine: Bool,
        inserted: inout Bool,
        create: () -> Value,
        update: (inout Value) -> Void
    ) -> BTreeSplit<Key, Value>? {
        if isLeaf {
            let (index, found) = lowerBound(key, prefix: prefix)
            if found {
                update(&values[index])
                return nil
            }
            prefixes.insert(prefix, at: index)
            keys.insert(key, at: index)
            values.insert(create(), at: index)
            count += 1
            inserted = true
            guard keys.count > BTreeLayout.maximumLeafCount else { return nil }
            return splitLeaf(appending: onRightSpine && index == keys.count - 1)
        }
        let index = childIndex(key, prefix: prefix)
        makeChildUnique(index)
        let child = children[index]
        let lastChild = index == children.count - 1
        let split = child.upsert(
            key, prefix: prefix, onRightSpine: onRightSpine && lastChild,
            inserted: &inserted, create: create, update: update)
        if inserted {
            count += 1
            childCounts[index] += 1
        }
        guard let split else { return nil }
        childCounts[index] = child.count
        prefixes.insert(split.prefix, at: index)
        keys.insert(split.separator, at: index)
        children.insert(split.node, at: index + 1)
        childCounts.insert(split.node.count, at: index + 1)
        guard children.count > BTreeLayout.maximumChildCount else { return nil }
        return splitInner(appending: onRightSpine && lastChild)
    }

    /// Moves the upper part of an overfull leaf into a new right sibling.
    private func splitLeaf(appending: Bool) -> BTreeSplit<Key, Value> {
        let middle = appending ? keys.count - 1 : keys.count / 2
        let right = BTreeNode(isLeaf: true)
        right.prefixes.append(contentsOf: prefixes[middle...])
        right.keys.append(contentsOf: keys[middle...])
        right.values.append(contentsOf: values[middle...])
        prefixes.removeSubrange(middle...)
        keys.removeSubrange(middle...)
        values.removeSubrange(middle...)
        right.count = right.keys.count
        count = keys.count
        return BTreeSplit(prefix: right.prefixes[0], separator: right.keys[0], node: right)
    }

    /// Moves the upper children of an overfull inner node into a new right sibling; the separator
    /// between the halves moves up to the parent.
    private func splitInner(appending: Bool) -> BTreeSplit<Key, Value> {
        let middle = appending ? children.count - 1 : children.count / 2
        let right = BTreeNode(isLeaf: false)
        let split = BTreeSplit(prefix: prefixes[middle - 1], separator: keys[middle - 1], node: right)
        right.prefixes.append(contentsOf: prefixes[middle...])
        right.keys.append(contentsOf: keys[middle...])
        right.children.append(contentsOf: children[middle...])
        right.childCounts.append(contentsOf: childCounts[middle...])
        prefixes.removeSubrange((middle - 1)...)
        keys.removeSubrange((middle - 1)...)
        children.removeSubrange(middle...)
        childCounts.removeSubrange(middle...)
        right.count = right.childCounts.reduce(0, +)
        count -= right.count
        return split
    }
}
