extension BTreeNode {
    /// Visits entries with `lower <= key < upper` in ascending order until `body` returns false.
    /// - Returns: false if the visit was stopped (by `body` or by reaching `upper`).
    func visitAscending(
        from lower: (key: Key, prefix: UInt64)?,
        to upper: (key: Key, prefix: UInt64)?,
        _ body: (Key, Value) -> Bool
    ) -> Bool {
        if isLeaf {
            var index = lower.map { lowerBound($0.key, prefix: $0.prefix).index } ?? 0
            let end = upper.map { lowerBound($0.key, prefix: $0.prefix).index } ?? keys.count
            while index < end {
                if !body(keys[index], values[index]) { return false }
                index += 1
            }
            return end == keys.count
        }
        var index = lower.map { childIndex($0.key, prefix: $0.prefix) } ?? 0
        // Only the child holding `upper` needs the bound; children before it lie entirely below it.
        let last = upper.map { childIndex($0.key, prefix: $0.prefix) } ?? children.count - 1
        var first = true
        while index <= last {
            let bound = index == last ? upper : nil
            if !children[index].visitAscending(from: first ? lower : nil, to: bound, body) { return false }
            first = false
            index += 1
        }
        return last == children.count - 1
    }

    /// Visits entries with `lower <= key < upper` in descending order until `body` returns false.
    /// - Returns: false if the visit was stopped (by `body` or by reaching `lower`).
    func visitDescending(
        from upper: (key: Key, prefix: UInt64)?,
        to lower: (key: Key, prefix: UInt64)?,
        _ body: (Key, Value) -> Bool
    ) -> Bool {
        if isLeaf {
            var index = upper.map { lowerBound($0.key, prefix: $0.prefix).index } ?? keys.count
            let start = lower.map { lowerBound($0.key, prefix: $0.prefix).index } ?? 0
            while index > start {
                index -= 1
                if !body(keys[index], values[index]) { return false }
            }
            return start == 0
        }
        var index = upper.map { childIndex($0.key, prefix: $0.prefix) } ?? children.count - 1
        let first = lower.map { childIndex($0.key, prefix: $0.prefix) } ?? 0
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
