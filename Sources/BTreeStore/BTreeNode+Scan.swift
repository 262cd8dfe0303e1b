extension BTreeNode {
    /// Visits entries with `lower <= key < upper` in ascending order until `body` returns false.
    /// - Returns: false if the visit was stopped (by `body` or by reaching `upper`).
    func visitAscending(
        from lower: (key: Key, summary: BTreeKeySummary)?,
        to upper: (key: Key, summary: BTreeKeySummary)?,
        _ body: (Key, Value) -> Bool
    ) -> Bool {
        if isLeaf {
            var index = lower.map { lowerBound($0.key, summary: $0.summary).index } ?? 0
            let end = upper.map { lowerBound($0.key, summary: $0.summary).index } ?? slotCount
            while index < end {
                if !body(keys[index], values[index]) { return false }
                index += 1
            }
            return end == slotCount
        }
        var index = lower.map { childIndex($0.key, summary: $0.summary) } ?? 0
        // Only the child holding `upper` needs the bound; children before it lie entirely below it.
        let last = upper.map { childIndex($0.key, summary: $0.summary) } ?? slotCount - 1
        var first = true
        while index <= last {
            let bound = index == last ? upper : nil
            if !children[index].visitAscending(from: first ? lower : nil, to: bound, body) { return false }
            first = false
            index += 1
        }
        return last == slotCount - 1
    }

    /// Visits entries with `lower <= key < upper` in descending order until `body` returns false.
    /// - Returns: false if the visit was stopped (by `body` or by reaching `lower`).
    func visitDescending(
        from upper: (key: Key, summary: BTreeKeySummary)?,
        to lower: (key: Key, summary: BTreeKeySummary)?,
        _ body: (Key, Value) -> Bool
    ) -> Bool {
        if isLeaf {
            var index = upper.map { lowerBound($0.key, summary: $0.summary).index } ?? slotCount
            let start = lower.map { lowerBound($0.key, summary: $0.summary).index } ?? 0
            while index > start {
                index -= 1
                if !body(keys[index], values[index]) { return false }
            }
            return start == 0
        }
        var index = upper.map { childIndex($0.key, summary: $0.summary) } ?? slotCount - 1
        let first = lower.map { childIndex($0.key, summary: $0.summary) } ?? 0
        var outermost = true
        while index >= first {
            let bound = index == first ? lower : nil
            if !children[index].visitDescending(from: outermost ? upper : nil, to: bound, body) { return false }
            outermost = false
            index -= 1
        }
        return first == 0
    }
}
