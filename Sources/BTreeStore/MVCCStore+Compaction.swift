extension MVCCStore {
    /// Compacts the history at `revision` (etcd's `Compact`): reads below it fail from now on, and
    /// every record no read at or after it can reach is removed.
    ///
    /// Kept: each key's latest revision at or below `revision` if it is a put, and everything
    /// above `revision`. Removed: older revisions, and tombstones at or below it together with the
    /// index entries of keys they deleted (see `KeyIndex` for a worked example).
    ///
    /// - Returns: the current revision (the response's header revision).
    /// - Complexity: O(m log n) for m records at or below `revision`, plus O(t) for t tombstoned keys.
    @discardableResult
    package func compact(_ revision: Int64) throws(MVCCError) -> Int64 {
        if revision <= state.compactRevision { throw .compacted }
        if revision > state.currentRevision { throw .futureRevision }
        state.compactRevision = revision
        // Newest first, the first record seen of each key is its latest at or below `revision`.
        var seen = Set<HashedBytes>()
        var removed: [Revision] = []
        state.history.forEach(to: Revision(main: revision + 1), reverse: true) { recordRevision, record in
            if !seen.insert(HashedBytes(record.key)).inserted || record.isTombstone {
                removed.append(recordRevision)
                state.historyBytes -= StoreState.recordBytes(key: record.key.count, value: record.value.count)
            }
            return true
        }
        for recordRevision in removed { state.history.removeValue(forKey: recordRevision) }
        var deletedKeys: [[UInt8]] = []
        state.tombstoned.forEach { key, entry in
            if entry.modification.main <= revision { deletedKeys.append(key) }
            return true
        }
        for key in deletedKeys { state.tombstoned.removeValue(forKey: key) }
        // An entry without changes: the revision stays, the new compaction point is published.
        finishEntry()
        return state.currentRevision
    }
}
