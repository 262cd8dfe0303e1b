extension BTree {
    /// Builds a tree from entries in strictly ascending key order (a snapshot restore), level by
    /// level, without any descent or split.
    ///
    /// Entries are spread evenly over the fewest nodes that hold them, so every node is at least
    /// half full and the tree ends up as dense as it can be.
    ///
    /// - Complexity: O(n).
    /// - Precondition: keys strictly ascending.
    package init<Entries: Sequence>(sortedEntries entries: Entries) where Entries.Element == (Key, Value) {
        var entryKeys: [Key] = []
        var entryValues: [Value] = []
        entryKeys.reserveCapacity(entries.underestimatedCount)
        entryValues.reserveCapacity(entries.underestimatedCount)
        for (key, value) in entries {
            if let previous = entryKeys.last {
                precondition(Key.compare(previous, key) < 0, "BTree bulk load needs strictly ascending keys")
            }
            entryKeys.append(key)
            entryValues.append(value)
        }
        guard !entryKeys.isEmpty else {
            self.init()
            return
        }

        var level: [BTreeNode<Key, Value>] = []
        var separators: [Key] = []  // separators[i]: smallest key under level[i]
        for range in Self.evenChunks(count: entryKeys.count, maximum: BTreeLayout.maximumLeafCount) {
            let leaf = BTreeNode<Key, Value>.make(isLeaf: true)
            for (slot, index) in range.enumerated() {
                (leaf.summaries + slot).initialize(to: entryKeys[index].orderSummary)
                (leaf.keys + slot).initialize(to: entryKeys[index])
                (leaf.values + slot).initialize(to: entryValues[index])
            }
            leaf.slotCount = range.count
            leaf.count = range.count
            level.append(leaf)
            separators.append(entryKeys[range.lowerBound])
        }
        while level.count > 1 {
            var parents: [BTreeNode<Key, Value>] = []
            var parentSeparators: [Key] = []
            for range in Self.evenChunks(count: level.count, maximum: BTreeLayout.maximumChildCount) {
                let parent = BTreeNode<Key, Value>.make(isLeaf: false)
                for (slot, index) in range.enumerated() {
                    if slot > 0 {
                        (parent.summaries + slot - 1).initialize(to: separators[index].orderSummary)
                        (parent.keys + slot - 1).initialize(to: separators[index])
                    }
                    (parent.children + slot).initialize(to: level[index])
                    (parent.childCounts + slot).initialize(to: level[index].count)
                    parent.slotCount = slot + 1
                    parent.count += level[index].count
                }
                parents.append(parent)
                parentSeparators.append(separators[range.lowerBound])
            }
            level = parents
            separators = parentSeparators
        }
        self.init(root: level[0])
    }

    /// Splits `0..<count` into the fewest consecutive ranges of at most `maximum` elements, with
    /// sizes differing by at most one.
    private static func evenChunks(count: Int, maximum: Int) -> [Range<Int>] {
        let chunkCount = (count + maximum - 1) / maximum
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(chunkCount)
        var start = 0
        for chunk in 0..<chunkCount {
            let size = count / chunkCount + (chunk < count % chunkCount ? 1 : 0)
            ranges.append(start..<(start + size))
            start += size
        }
        return ranges
    }
}
