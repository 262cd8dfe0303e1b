import BTreeStore
import EtcdProto
import GRPCCore

/// etcd's KV service: reads from a published view (after ReadIndex unless serializable), writes
/// through Raft.
struct KVService: Etcdserverpb_KV.SimpleServiceProtocol {
    let core: ServerCore

    func range(request: Etcdserverpb_RangeRequest, context: ServerContext) async throws -> Etcdserverpb_RangeResponse {
        if !request.serializable && core.isLearner { throw ServerError.notSupportedForLearner.rpcError }
        let range = RangeRequest(request)
        do {
            try TxnValidation.check(range)
        } catch {
            throw error.rpcError
        }
        let view = try await core.readView(serializable: request.serializable)
        core.metrics.ranges.add(1, ordering: .relaxed)
        do {
            return Etcdserverpb_RangeResponse(try view.range(range), header: core.header(revision: view.revision))
        } catch {
            throw error.rpcError
        }
    }

    func put(request: Etcdserverpb_PutRequest, context: ServerContext) async throws -> Etcdserverpb_PutResponse {
        do {
            try TxnValidation.check(PutRequest(request))
        } catch {
            throw error.rpcError
        }
        try await core.checkQuota(requestBytes: request.key.count + request.value.count)
        return try await core.propose(.put(request)) { result in
            if case .put(let response) = result { response } else { nil }
        }
    }

    func deleteRange(request: Etcdserverpb_DeleteRangeRequest,
                     context: ServerContext) async throws -> Etcdserverpb_DeleteRangeResponse {
        do {
            try TxnValidation.check(DeleteRangeRequest(request))
        } catch {
            throw error.rpcError
        }
        return try await core.propose(.deleteRange(request)) { result in
            if case .deleteRange(let response) = result { response } else { nil }
        }
    }

    func txn(request: Etcdserverpb_TxnRequest, context: ServerContext) async throws -> Etcdserverpb_TxnResponse {
        let txn = TxnRequest(request)
        do {
            try TxnValidation.check(txn, maximumOperations: core.configuration.maxTxnOps)
        } catch {
            throw error.rpcError
        }
        // Read-only transactions are served like reads (etcd does the same), without a log entry.
        guard request.hasWrites else {
            let view = try await core.readView(serializable: isSerializable(request))
            do {
                let response = try view.txn(txn, maximumOperations: core.configuration.maxTxnOps)
                return Etcdserverpb_TxnResponse(response, header: core.header(revision: view.revision))
            } catch {
                throw error.rpcError
            }
        }
        // Charged like a put: the bytes it adds, without encoding the request an extra time.
        let puts = request.putCost
        if puts.count > 0 { try await core.checkQuota(requestBytes: puts.bytes) }
        return try await core.propose(.txn(request)) { result in
            if case .txn(let response) = result { response } else { nil }
        }
    }

    func compact(request: Etcdserverpb_CompactionRequest,
                 context: ServerContext) async throws -> Etcdserverpb_CompactionResponse {
        try await core.propose(.compaction(request)) { result in
            if case .compaction(let response) = result { response } else { nil }
        }
    }

    /// etcd's rule: serializable when every operation is a serializable range (so also when
    /// there are none).
    private func isSerializable(_ request: Etcdserverpb_TxnRequest) -> Bool {
        (request.success + request.failure).allSatisfy { op in
            if case .requestRange(let range) = op.request { range.serializable } else { false }
        }
    }
}
