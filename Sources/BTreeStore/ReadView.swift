/// An immutable snapshot of the store, for readers on any thread.
///
/// Taking one is O(1) (it shares the store's tree nodes); holding one never blocks the writer,
/// which copies the nodes it changes instead. A view always shows whole applied entries: the
/// writer publishes a new view only between entries (or batches of entries).
package struct ReadView: Sendable {
    let state: StoreState

    /// The revision of the last write this view shows.
    package var revision: Int64 { state.currentRevision }

    /// Reads below this revision fail with `.compacted`.
    package var compactRevision: Int64 { state.compactRevision }

    /// Serves a range read.
    package func range(_ request: RangeRequest) throws(MVCCError) -> RangeResponse {
        try TxnValidation.check(request)
        return try state.range(request, latest: state.currentRevision)
    }

    /// Serves a transaction without writes (etcd serves these without consensus).
    /// - Precondition: `!request.hasWrites`.
    package func txn(_ request: TxnRequest,
                     maximumOperations: Int = TxnValidation.defaultMaximumOperations) throws(MVCCError) -> TxnResponse {
        precondition(!request.hasWrites, "a read view cannot serve a transaction that writes")
        try TxnValidation.check(request, maximumOperations: maximumOperations)
        let plan = TxnPlan(request, state: state, latest: state.currentRevision)
        try plan.check(request, state: state, leaseExists: { _ in true })
        var response = plan.respond(to: request, read: { range throws(MVCCError) in
            try state.range(range, latest: state.currentRevision)
        }) { write in
            preconditionFailure("write in a read-only transaction: \(write)")
        }
        response.revision = state.currentRevision
        return response
    }

    /// The key-value of `key` at `revision` (0 for current), or nil; errors as for a range.
    package func get(_ key: [UInt8], revision: Int64 = 0) throws(MVCCError) -> KeyValue? {
        try range(RangeRequest(key: key, revision: revision)).kvs.first
    }
}

extension ReadView {
    /// Every live key with a lease, in key order: what the lessor re-attaches after a restart or a
    /// snapshot restore (etcd's lessor recovers its items from the key space the same way).
    /// - Complexity: O(n).
    package func leasedKeys() -> [(key: [UInt8], lease: Int64)] {
        var leased: [(key: [UInt8], lease: Int64)] = []
        state.live.forEach { key, entry in
            if entry.lease != 0 { leased.append((key, entry.lease)) }
            return true
        }
        return leased
    }
}

extension ReadView {
    /// Number of live keys.
    package var keyCount: Int { state.live.count }

    /// Number of revisions held (puts and tombstones since the last compaction).
    package var historyCount: Int { state.history.count }

    /// Approximate bytes of that history.
    package var historyBytes: Int64 { state.historyBytes }
}
