/// The whole history since the last compaction as plain values: what the server writes into a
/// snapshot's SQLite file, and what a new member or a restart rebuilds the store from.
package struct MVCCSnapshot: Hashable, Sendable {
    /// One revision of one key.
    package struct Record: Hashable, Sendable {
        /// Where in the history.
        package var revision: Revision
        /// The key-value written (`modRevision` is `revision.main`); key only for a tombstone.
        package var kv: KeyValue
        /// Whether this revision deleted the key.
        package var isTombstone: Bool

        /// A record.
        package init(revision: Revision, kv: KeyValue, isTombstone: Bool) {
            self.revision = revision
            self.kv = kv
            self.isTombstone = isTombstone
        }
    }

    /// The revision of the last applied write.
    package var currentRevision: Int64
    /// The revision of the last compaction.
    package var compactRevision: Int64
    /// Every record held, in ascending revision order.
    package var records: [Record]

    /// A snapshot.
    package init(currentRevision: Int64, compactRevision: Int64, records: [Record]) {
        self.currentRevision = currentRevision
        self.compactRevision = compactRevision
        self.records = records
    }
}

extension ReadView {
    /// The history this view holds, for a snapshot.
    /// - Complexity: O(n).
    package func export() -> MVCCSnapshot {
        var records: [MVCCSnapshot.Record] = []
        records.reserveCapacity(state.history.count)
        state.history.forEach { revision, record in
            let kv = record.keyValue(at: revision) ?? KeyValue(key: record.key, modRevision: revision.main)
            records.append(MVCCSnapshot.Record(revision: revision, kv: kv, isTombstone: record.isTombstone))
            return true
        }
        return MVCCSnapshot(currentRevision: state.currentRevision, compactRevision: state.compactRevision,
                            records: records)
    }
}

extension MVCCStore {
    /// A store holding `snapshot`'s history, built bottom-up without any descent.
    /// - Complexity: O(n log k) for k distinct keys (a dictionary pass and a sort).
    /// - Precondition: records in strictly ascending revision order, none above `currentRevision`.
    package convenience init(importing snapshot: MVCCSnapshot) {
        self.init(state: Self.state(importing: snapshot))
    }

    /// Replaces everything with `snapshot`'s history (a follower installing its leader's
    /// snapshot). Readers get the new state; every watcher catches up from it, or is canceled as
    /// compacted if it needs revisions the snapshot no longer has.
    package func restore(importing snapshot: MVCCSnapshot) {
        state = Self.state(importing: snapshot)
        let view = ReadView(state: state)
        readViews.publish(view)
        watchHub.restore(view: view)
    }

    private static func state(importing snapshot: MVCCSnapshot) -> StoreState {
        // Each key's latest entry, in order of first appearance.
        var slots: [HashedBytes: Int] = [:]
        slots.reserveCapacity(snapshot.records.count)
        var keys: [[UInt8]] = []
        var latest: [KeyIndex] = []
        var history: [(Revision, RevisionRecord)] = []
        history.reserveCapacity(snapshot.records.count)
        for record in snapshot.records {
            precondition(record.revision.main <= snapshot.currentRevision, "snapshot record after its revision")
            let kv = record.kv
            let key = HashedBytes(kv.key)
            let slot = slots[key, default: keys.count]
            let previous = slot < keys.count ? latest[slot].modification : .none
            let version = record.isTombstone ? 0 : kv.version
            history.append((record.revision, RevisionRecord(
                key: kv.key, value: record.isTombstone ? [] : kv.value,
                createRevision: record.isTombstone ? 0 : kv.createRevision, version: version,
                lease: record.isTombstone ? 0 : kv.lease, previous: previous)))
            let entry = KeyIndex(
                modification: record.revision, createRevision: record.isTombstone ? 0 : kv.createRevision,
                version: version, lease: record.isTombstone ? 0 : kv.lease,
                value: record.isTombstone ? [] : kv.value)
            if slot < keys.count {
                latest[slot] = entry
            } else {
                slots[key] = slot
                keys.append(kv.key)
                latest.append(entry)
            }
        }
        // Sorting small plain values (the summary and a slot) moves no reference-counted data, and
        // most keys differ in their summaries, so the bytes are compared only on ties.
        var order = keys.indices.map { (summary: keys[$0].orderSummary, slot: $0) }
        order.sort { lhs, rhs in
            let result = lhs.summary.order(rhs.summary)
            return result != 0 ? result < 0 : [UInt8].compare(keys[lhs.slot], keys[rhs.slot]) < 0
        }
        var state = StoreState()
        state.history = BTree(sortedEntries: history)
        state.live = BTree(sortedEntries: order.lazy.filter { latest[$0.slot].version != 0 }
            .map { (keys[$0.slot], latest[$0.slot]) })
        state.tombstoned = BTree(sortedEntries: order.lazy.filter { latest[$0.slot].version == 0 }
            .map { (keys[$0.slot], latest[$0.slot]) })
        state.currentRevision = snapshot.currentRevision
        state.compactRevision = snapshot.compactRevision
        state.historyBytes = snapshot.records.reduce(0) { total, record in
            total + StoreState.recordBytes(key: record.kv.key.count, value: record.isTombstone ? 0 : record.kv.value.count)
        }
        return state
    }
}
