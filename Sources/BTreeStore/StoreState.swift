/// The whole versioned key space at one moment: what a read view holds and what the writer
/// mutates. Copying it is O(1) (three tree roots and two integers).
///
/// - Complexity: a read of one key at the current revision is one descent; at a past revision it
///   also walks the key's chain back to that revision. Counting a range at the current revision is
///   O(log n); listing it is O(log n + listed).
struct StoreState: Sendable {
    /// Keys whose latest revision is a put.
    var live = BTree<[UInt8], KeyIndex>()
    /// Keys whose latest revision is a tombstone, kept for reads at earlier revisions.
    var tombstoned = BTree<[UInt8], KeyIndex>()
    /// Every revision since the last compaction (and the ones it kept), by revision.
    var history = BTree<Revision, RevisionRecord>()
    /// The revision of the last applied write. As in etcd, an empty store is at revision 1, so
    /// the first write is revision 2.
    var currentRevision: Int64 = 1
    /// Reads below this revision fail: their records may be gone. As in etcd, -1 until the first
    /// compaction (`HashKV` reports it).
    var compactRevision: Int64 = -1
    /// Approximate bytes of the history (keys, values and a fixed cost per record): the server's
    /// "database size in use" and what the space quota is checked against.
    var historyBytes: Int64 = 0

    /// The approximate cost of one history record.
    static func recordBytes(key: Int, value: Int) -> Int64 { Int64(key + value + 48) }

    /// The key-value of `key`, described by `entry`, as of revision `atRevision`.
    func keyValue(_ key: [UInt8], _ entry: KeyIndex, at atRevision: Int64) -> KeyValue? {
        if entry.modification.main <= atRevision {
            return entry.version == 0 ? nil : entry.keyValue(key)
        }
        var previous = history[entry.modification]?.previous ?? .none
        while previous != .none {
            // A missing record was compacted away; compaction only drops what no read needs.
            guard let record = history[previous] else { return nil }
            if previous.main <= atRevision { return record.keyValue(at: previous) }
            previous = record.previous
        }
        return nil
    }

    /// The key-value of `key` at `atRevision`, where `latest` is the revision the trees reflect.
    func get(_ key: [UInt8], at atRevision: Int64, latest: Int64) -> KeyValue? {
        if atRevision >= latest { return live.withValue(forKey: key) { $0.keyValue(key) } }
        if let entry = live[key] { return keyValue(key, entry, at: atRevision) }
        guard atRevision < latest, let entry = tombstoned[key] else { return nil }
        return keyValue(key, entry, at: atRevision)
    }

    /// The key-values in `[key, end)` that exist at `atRevision`, ascending, stopping after `limit`
    /// (the count still covers all of them).
    func collect(_ key: [UInt8], _ end: RangeEnd, at atRevision: Int64, latest: Int64, limit: Int,
                 countOnly: Bool, reverse: Bool = false) -> (kvs: [KeyValue], count: Int) {
        var kvs: [KeyValue] = []
        if case .singleKey = end {
            guard let kv = get(key, at: atRevision, latest: latest) else { return ([], 0) }
            return (countOnly || limit == 0 ? [] : [kv], 1)
        }
        let upper: [UInt8]? = if case .before(let end) = end { end } else { nil }
        if atRevision >= latest {
            let count = live.count(from: key, to: upper)
            if countOnly || count == 0 { return ([], count) }
            kvs.reserveCapacity(Swift.min(count, limit))
            live.forEach(from: key, to: upper, reverse: reverse) { key, entry in
                kvs.append(entry.keyValue(key))
                return kvs.count < limit
            }
            return (kvs, count)
        }
        // A past revision: both live and tombstoned keys may have existed then.
        var count = 0
        var liveEntries: [([UInt8], KeyIndex)] = []
        var tombstonedEntries: [([UInt8], KeyIndex)] = []
        live.forEach(from: key, to: upper) { liveEntries.append(($0, $1)); return true }
        tombstoned.forEach(from: key, to: upper) { tombstonedEntries.append(($0, $1)); return true }
        var liveIndex = 0
        var tombstonedIndex = 0
        while liveIndex < liveEntries.count || tombstonedIndex < tombstonedEntries.count {
            let takeLive = tombstonedIndex == tombstonedEntries.count
                || (liveIndex < liveEntries.count
                    && [UInt8].compare(liveEntries[liveIndex].0, tombstonedEntries[tombstonedIndex].0) < 0)
            let (entryKey, entry) = takeLive ? liveEntries[liveIndex] : tombstonedEntries[tombstonedIndex]
            if takeLive { liveIndex += 1 } else { tombstonedIndex += 1 }
            guard let kv = keyValue(entryKey, entry, at: atRevision) else { continue }
            count += 1
            if !countOnly && kvs.count < limit { kvs.append(kv) }
        }
        return (kvs, count)
    }

    /// Serves a range request, with etcd's revision checks, filters, sort and limit
    /// (`applierV3backend.Range` and `storeTxnRead.rangeKeys`).
    ///
    /// - Parameter latest: the revision the trees reflect: the current revision, or the one being
    ///   written by a transaction that already wrote (its reads see its own writes).
    func range(_ request: RangeRequest, latest: Int64) throws(MVCCError) -> RangeResponse {
        if request.revision > latest { throw .futureRevision }
        let atRevision = request.revision <= 0 ? latest : request.revision
        if atRevision < compactRevision { throw .compacted }

        let filtered = request.minModRevision != 0 || request.maxModRevision != 0
            || request.minCreateRevision != 0 || request.maxCreateRevision != 0
        var order = request.sortOrder
        if request.sortTarget != .key && order == .none { order = .ascend }
        // In key order without filters the scan itself yields the sorted prefix, so it can stop
        // at limit + 1 (one extra to learn `more`) even where etcd fetches everything.
        let scanSorted = request.sortTarget == .key && !filtered
            && (order != .descend || atRevision >= latest)
        let limit = Int(request.limit)
        let fetchLimit = limit > 0 && scanSorted ? limit + 1 : Int.max
        var (kvs, count) = collect(request.key, RangeEnd(request.rangeEnd), at: atRevision, latest: latest,
                                   limit: fetchLimit, countOnly: request.countOnly,
                                   reverse: scanSorted && order == .descend)
        if filtered {
            kvs.removeAll { kv in
                (request.maxModRevision != 0 && kv.modRevision > request.maxModRevision)
                    || (request.minModRevision != 0 && kv.modRevision < request.minModRevision)
                    || (request.maxCreateRevision != 0 && kv.createRevision > request.maxCreateRevision)
                    || (request.minCreateRevision != 0 && kv.createRevision < request.minCreateRevision)
            }
        }
        if order != .none && !scanSorted {
            Self.sort(&kvs, by: request.sortTarget, descending: order == .descend)
        }
        var more = false
        if limit > 0 && kvs.count > limit {
            kvs.removeSubrange(limit...)
            more = true
        }
        if request.keysOnly {
            for index in kvs.indices { kvs[index].value = [] }
        }
        return RangeResponse(revision: latest, kvs: kvs, more: more, count: Int64(count))
    }

    /// Sorts by `target`. Go's sort is not stable, so etcd leaves the order of ties open; we
    /// break ties by key, ascending in both directions, to stay deterministic.
    static func sort(_ kvs: inout [KeyValue], by target: RangeRequest.SortTarget, descending: Bool) {
        func order(_ lhs: KeyValue, _ rhs: KeyValue) -> Int {
            switch target {
            case .key: [UInt8].compare(lhs.key, rhs.key)
            case .version: lhs.version == rhs.version ? 0 : (lhs.version < rhs.version ? -1 : 1)
            case .create: lhs.createRevision == rhs.createRevision ? 0 : (lhs.createRevision < rhs.createRevision ? -1 : 1)
            case .mod: lhs.modRevision == rhs.modRevision ? 0 : (lhs.modRevision < rhs.modRevision ? -1 : 1)
            case .value: [UInt8].compare(lhs.value, rhs.value)
            }
        }
        kvs.sort { lhs, rhs in
            let result = order(lhs, rhs)
            if result != 0 { return descending ? result > 0 : result < 0 }
            return [UInt8].compare(lhs.key, rhs.key) < 0
        }
    }

    /// Whether a compare holds at the latest revision (etcd's `applyCompare`): every key of the
    /// range must satisfy it; an absent key compares as zero values, except that a value compare on
    /// an absent key always fails.
    func holds(_ compare: Compare, latest: Int64) -> Bool {
        let (kvs, _) = collect(compare.key, RangeEnd(compare.rangeEnd), at: latest, latest: latest,
                               limit: .max, countOnly: false)
        if kvs.isEmpty {
            if case .value = compare.target { return false }
            return Self.holds(compare, for: KeyValue(key: []))
        }
        return kvs.allSatisfy { Self.holds(compare, for: $0) }
    }

    private static func holds(_ compare: Compare, for kv: KeyValue) -> Bool {
        func order(_ lhs: Int64, _ rhs: Int64) -> Int { lhs == rhs ? 0 : (lhs < rhs ? -1 : 1) }
        let result = switch compare.target {
        case .version(let version): order(kv.version, version)
        case .createRevision(let revision): order(kv.createRevision, revision)
        case .modRevision(let revision): order(kv.modRevision, revision)
        case .lease(let lease): order(kv.lease, lease)
        case .value(let value): [UInt8].compare(kv.value, value)
        }
        switch compare.result {
        case .equal: return result == 0
        case .notEqual: return result != 0
        case .greater: return result > 0
        case .less: return result < 0
        }
    }
}
