/// The versioned key-value store with etcd's MVCC semantics: the state machine that the server's
/// apply loop drives with committed entries.
///
/// One writer (the owner of this object, which is not `Sendable`) and any number of readers, which
/// take immutable `ReadView`s from `readViews` on any thread. Every request applied here is one
/// entry: all of its writes share one main revision. Views and watch events are published when
/// an entry completes, or at the end of `batch(_:)`, so no reader sees a half-applied batch.
///
/// - Complexity: a put or single-key delete is O(log n) (two or three tree descents); see
///   `StoreState` for reads and `compact(_:)` for compaction.
package final class MVCCStore {
    /// The writer's working state; published views share its unchanged nodes.
    var state: StoreState
    /// Where readers pick up views.
    package let readViews: ReadViewSource
    /// Watchers of this store.
    package let watchHub: WatchHub
    /// The `--max-txn-ops` limit.
    package var maximumTxnOperations = TxnValidation.defaultMaximumOperations
    /// Asks the lessor whether a lease exists; puts naming an unknown lease fail.
    package var leaseExists: (Int64) -> Bool = { _ in true }
    /// Told the changes of each entry that wrote, as it completes: how the lessor tracks which
    /// keys are attached to which lease without scanning the key space.
    package var entryApplied: ([Event]) -> Void = { _ in }

    /// Changes of the entry being applied; their count is the next sub revision.
    private var changes: [Event] = []
    /// Changes of completed entries not yet published (inside `batch`).
    private var unpublished: [Event] = []
    private var batchDepth = 0

    /// An empty store.
    /// - Parameters:
    ///   - watchBufferLimit: most events a watcher may have waiting before it has to catch up from
    ///     the history.
    ///   - watchFragmentBytes: size above which watch responses are fragmented (etcd's maximum
    ///     request size, 1.5 MiB, by default).
    package convenience init(watchBufferLimit: Int = 1024, watchFragmentBytes: Int = 1_572_864) {
        self.init(state: StoreState(), watchBufferLimit: watchBufferLimit, watchFragmentBytes: watchFragmentBytes)
    }

    init(state: StoreState, watchBufferLimit: Int = 1024, watchFragmentBytes: Int = 1_572_864) {
        self.state = state
        readViews = ReadViewSource(ReadView(state: state))
        watchHub = WatchHub(view: ReadView(state: state), bufferLimit: watchBufferLimit,
                            fragmentBytes: watchFragmentBytes)
    }

    /// The revision of the last applied write.
    package var currentRevision: Int64 { state.currentRevision }

    /// The revision of the last compaction.
    package var compactRevision: Int64 { state.compactRevision }

    /// A view of everything applied so far, including an unpublished batch.
    package var readView: ReadView { ReadView(state: state) }

    /// Applies several entries and publishes them (to readers and watchers) together.
    package func batch<Result>(_ body: () throws -> Result) rethrows -> Result {
        batchDepth += 1
        defer {
            batchDepth -= 1
            if batchDepth == 0 { publish() }
        }
        return try body()
    }

    // MARK: Requests

    /// Applies a put (etcd's `applierV3backend.Put` outside a transaction).
    package func put(_ request: PutRequest) throws(MVCCError) -> PutResponse {
        try TxnValidation.check(request)
        if (request.ignoreValue || request.ignoreLease)
            && state.get(request.key, at: state.currentRevision, latest: state.currentRevision) == nil
        {
            throw .keyNotFound
        }
        if request.lease != 0 && !leaseExists(request.lease) { throw .leaseNotFound }
        let response = applyPut(request)
        finishEntry()
        return response
    }

    /// Applies a deletion; the revision advances only if a key was deleted.
    package func deleteRange(_ request: DeleteRangeRequest) throws(MVCCError) -> DeleteRangeResponse {
        try TxnValidation.check(request)
        var response = applyDeleteRange(request)
        finishEntry()
        response.revision = state.currentRevision
        return response
    }

    /// Applies a transaction; the revision advances only if it wrote.
    package func txn(_ request: TxnRequest) throws(MVCCError) -> TxnResponse {
        try TxnValidation.check(request, maximumOperations: maximumTxnOperations)
        let plan = TxnPlan(request, state: state, latest: state.currentRevision)
        try plan.check(request, state: state, leaseExists: leaseExists)
        var response = applyTxn(request, plan: plan)
        finishEntry()
        response.revision = state.currentRevision
        return response
    }

    /// Deletes the given keys in one entry (one revision), as a lease revocation does; keys that
    /// do not exist are skipped. - Returns: the number deleted.
    @discardableResult
    package func deleteKeys(_ keys: [[UInt8]]) -> Int {
        for key in keys { delete(key) }
        let deleted = changes.count
        finishEntry()
        return deleted
    }

    /// Serves a read on the writer's state (reads inside the apply loop).
    package func range(_ request: RangeRequest) throws(MVCCError) -> RangeResponse {
        try readView.range(request)
    }

    // MARK: Applying

    /// The revision the writer's trees reflect: one past the current once this entry wrote.
    private var latest: Int64 { state.currentRevision + (changes.isEmpty ? 0 : 1) }

    private func applyPut(_ request: PutRequest) -> PutResponse {
        var previous: KeyValue?
        if request.ignoreValue || request.ignoreLease || request.prevKV {
            previous = state.get(request.key, at: latest, latest: latest)
        }
        let value = request.ignoreValue ? previous?.value ?? [] : request.value
        let lease = request.ignoreLease ? previous?.lease ?? 0 : request.lease
        write(request.key, value: value, lease: lease)
        return PutResponse(revision: state.currentRevision + 1, prevKV: request.prevKV ? previous : nil)
    }

    private func applyDeleteRange(_ request: DeleteRangeRequest) -> DeleteRangeResponse {
        let (kvs, _) = state.collect(request.key, RangeEnd(request.rangeEnd), at: latest, latest: latest,
                                     limit: .max, countOnly: false)
        for kv in kvs { delete(kv.key) }
        return DeleteRangeResponse(revision: latest, deleted: Int64(kvs.count),
                                   prevKVs: request.prevKV ? kvs : [])
    }

    private func applyTxn(_ request: TxnRequest, plan: TxnPlan) -> TxnResponse {
        // Reads go to the writer's state at `latest`, so they see the transaction's earlier writes.
        plan.respond(to: request, read: { range throws(MVCCError) in try state.range(range, latest: latest) }) { write in
            switch write {
            case .put(let put): return .put(applyPut(put))
            case .deleteRange(let delete): return .deleteRange(applyDeleteRange(delete))
            case .range, .txn: preconditionFailure("not a write: \(write)")
            }
        }
    }

    /// Writes one key at the next sub revision of the entry.
    private func write(_ key: [UInt8], value: [UInt8], lease: Int64) {
        let revision = Revision(main: state.currentRevision + 1, sub: Int64(changes.count))
        var previousRevision = state.tombstoned.removeValue(forKey: key)?.modification ?? .none
        var previousKV: KeyValue?
        var createRevision = revision.main
        var version: Int64 = 1
        state.live.upsert(
            key,
            create: {
                KeyIndex(modification: revision, createRevision: revision.main, version: 1, lease: lease, value: value)
            },
            update: { entry in
                previousRevision = entry.modification
                previousKV = entry.keyValue(key)
                createRevision = entry.createRevision
                version = entry.version + 1
                entry.modification = revision
                entry.version = version
                entry.value = value
                entry.lease = lease
            })
        state.history.updateValue(
            RevisionRecord(key: key, value: value, createRevision: createRevision, version: version,
                           lease: lease, previous: previousRevision),
            forKey: revision)
        state.historyBytes += StoreState.recordBytes(key: key.count, value: value.count)
        changes.append(Event(
            type: .put,
            kv: KeyValue(key: key, value: value, createRevision: createRevision, modRevision: revision.main,
                         version: version, lease: lease),
            prevKV: previousKV))
    }

    /// Deletes one live key at the next sub revision of the entry.
    private func delete(_ key: [UInt8]) {
        guard let entry = state.live.removeValue(forKey: key) else { return }
        let revision = Revision(main: state.currentRevision + 1, sub: Int64(changes.count))
        state.tombstoned.updateValue(
            KeyIndex(modification: revision, createRevision: 0, version: 0, lease: 0, value: []), forKey: key)
        state.history.updateValue(
            RevisionRecord(key: key, value: [], createRevision: 0, version: 0, lease: 0,
                           previous: entry.modification),
            forKey: revision)
        state.historyBytes += StoreState.recordBytes(key: key.count, value: 0)
        changes.append(Event(type: .delete, kv: KeyValue(key: key, modRevision: revision.main),
                             prevKV: entry.keyValue(key)))
    }

    /// Ends the entry: the revision advances if it wrote, and it is published unless a batch is open.
    func finishEntry() {
        if !changes.isEmpty {
            entryApplied(changes)
            state.currentRevision += 1
            unpublished.append(contentsOf: changes)
            changes.removeAll(keepingCapacity: true)
        }
        if batchDepth == 0 { publish() }
    }

    /// Hands the state to readers and the new events to watchers.
    func publish() {
        let view = ReadView(state: state)
        readViews.publish(view)
        watchHub.publish(unpublished, view: view)
        unpublished.removeAll(keepingCapacity: true)
    }
}
