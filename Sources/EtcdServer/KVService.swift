import BTreeStore
import EtcdProto
import GRPCCore
import LeanGRPC

/// etcd's KV service: reads from a published view (after ReadIndex unless serializable), writes
/// through Raft.
///
/// Every method answers through a responder instead of suspending: a serializable read is
/// served on the connection's event loop as it arrives, a linearizable one once the driver says
/// its ReadIndex is applied, and a write when the driver has applied it, so that these calls,
/// the bulk of etcd's traffic, cost no task and no thread hop beyond the driver's.
struct KVService {
    let core: ServerCore

    func range(_ request: Etcdserverpb_RangeRequest, _ responder: UnaryResponder<Etcdserverpb_RangeResponse>) {
        if !request.serializable && core.isLearner { return responder.fail(ServerError.notSupportedForLearner.rpcError) }
        let range = RangeRequest(request)
        do {
            try TxnValidation.check(range)
        } catch {
            return responder.fail(error.rpcError)
        }
        core.withReadView(serializable: request.serializable, on: responder.eventLoop) { [core] view in
            core.metrics.ranges.add(1, ordering: .relaxed)
            do {
                let view = try view.get()
                responder.succeed(Etcdserverpb_RangeResponse(try view.range(range), header: core.header(revision: view.revision)))
            } catch {
                responder.fail(error.rpcError)
            }
        }
    }

    func put(_ request: Etcdserverpb_PutRequest, _ responder: UnaryResponder<Etcdserverpb_PutResponse>) {
        do {
            try TxnValidation.check(PutRequest(request))
        } catch {
            return responder.fail(error.rpcError)
        }
        core.propose(.put(request), quotaBytes: request.key.count + request.value.count, responder) { result in
            if case .put(let response) = result { response } else { nil }
        }
    }

    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest,
                     _ responder: UnaryResponder<Etcdserverpb_DeleteRangeResponse>) {
        do {
            try TxnValidation.check(DeleteRangeRequest(request))
        } catch {
            return responder.fail(error.rpcError)
        }
        core.propose(.deleteRange(request), responder) { result in
            if case .deleteRange(let response) = result { response } else { nil }
        }
    }

    func txn(_ request: Etcdserverpb_TxnRequest, _ responder: UnaryResponder<Etcdserverpb_TxnResponse>) {
        let txn = TxnRequest(request)
        let maximumOperations = core.configuration.maxTxnOps
        do {
            try TxnValidation.check(txn, maximumOperations: maximumOperations)
        } catch {
            return responder.fail(error.rpcError)
        }
        // Read-only transactions are served like reads (etcd does the same), without a log entry.
        guard request.hasWrites else {
            core.withReadView(serializable: isSerializable(request), on: responder.eventLoop) { [core] view in
                do {
                    let view = try view.get()
                    let response = try view.txn(txn, maximumOperations: maximumOperations)
                    responder.succeed(Etcdserverpb_TxnResponse(response, header: core.header(revision: view.revision)))
                } catch {
                    responder.fail(error.rpcError)
                }
            }
            return
        }
        // Charged like a put: the bytes it adds, without encoding the request an extra time.
        let puts = request.putCost
        core.propose(.txn(request), quotaBytes: puts.count > 0 ? puts.bytes : nil, responder) { result in
            if case .txn(let response) = result { response } else { nil }
        }
    }

    func compact(request: Etcdserverpb_CompactionRequest) async throws -> Etcdserverpb_CompactionResponse {
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
