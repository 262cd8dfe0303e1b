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
        var latest: [[UInt8]: KeyIndex] = [:]
        var history: [(Revision, RevisionRecord)] = []
        history.reserveCapacity(snapshot.records.count)
        for record in snapshot.records {
            precondition(record.revision.main <= snapshot.currentRevision, "snapshot record after its revision")
            let kv = record.kv
            let previous = latest[kv.key]?.modification ?? .none
            let version = record.isTombstone ? 0 : kv.version
            history.append((record.revision, RevisionRecord(
                key: kv.key, value: record.isTombstone ? [] : kv.value,
                createRevision: record.isTombstone ? 0 : kv.createRevision, version: version,
                lease: record.isTombstone ? 0 : kv.lease, previous: previous)))
            latest[kv.key] = KeyIndex(
                modification: record.revision, createRevision: record.isTombstone ? 0 : kv.createRevision,
                version: version, lease: record.isTombstone ? 0 : kv.lease,
                value: record.isTombstone ? [] : kv.value)
        }
        let byKey = latest.sorted { [UInt8].compare($0.key, $1.key) < 0 }
        var state = StoreState()
        state.history = BTree(sortedEntries: history)
        state.live = BTree(sortedEntries: byKey.lazy.filter { $0.value.version != 0 }.map { ($0.key, $0.value) })
        state.tombstoned = BTree(sortedEntries: byKey.lazy.filter { $0.value.version == 0 }.map { ($0.key, $0.value) })
        state.currentRevision = snapshot.currentRevision
        state.compactRevision = snapshot.compactRevision
        state.historyBytes = snapshot.records.reduce(0) { total, record in
            total + StoreState.recordBytes(key: record.kv.key.count, value: record.isTombstone ? 0 : record.kv.value.count)
        }
        return state
    }
}
