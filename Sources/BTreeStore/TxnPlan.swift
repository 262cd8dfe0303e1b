/// The branch each (nested) transaction takes, decided before any operation runs.
///
/// etcd evaluates every compare, including those of nested transactions, against the state
/// before the transaction (`compareToPath`), then runs the operations; a nested compare therefore
/// does not see writes made earlier in the same transaction.
struct TxnPlan {
    /// Whether the compares held.
    var succeeded: Bool
    /// Plans of the nested transactions of the chosen branch, in order.
    var nested: [TxnPlan]

    /// Plans `request` against `state` at `latest`.
    init(_ request: TxnRequest, state: StoreState, latest: Int64) {
        succeeded = request.compare.allSatisfy { state.holds($0, latest: latest) }
        var nested: [TxnPlan] = []
        for case .txn(let inner) in succeeded ? request.success : request.failure {
            nested.append(TxnPlan(inner, state: state, latest: latest))
        }
        self.nested = nested
    }

    /// The chosen branch of `request`.
    func operations(of request: TxnRequest) -> [RequestOp] {
        succeeded ? request.success : request.failure
    }

    /// The checks etcd runs on the chosen path before executing it (`checkRequests` with
    /// `checkRequestPut` and `checkRequestRange`): puts that keep a value or lease need the key,
    /// and reads must name a revision that is neither compacted nor in the future.
    func check(_ request: TxnRequest, state: StoreState, leaseExists: (Int64) -> Bool) throws(MVCCError) {
        try forEachOperation(request) { op throws(MVCCError) in
            guard case .put(let put) = op else { return }
            if (put.ignoreValue || put.ignoreLease)
                && state.get(put.key, at: state.currentRevision, latest: state.currentRevision) == nil
            {
                throw .keyNotFound
            }
            if put.lease != 0 && !leaseExists(put.lease) { throw .leaseNotFound }
        }
        try forEachOperation(request) { op throws(MVCCError) in
            guard case .range(let range) = op, range.revision != 0 else { return }
            if range.revision > state.currentRevision { throw .futureRevision }
            if range.revision < state.compactRevision { throw .compacted }
        }
    }

    private func forEachOperation(
        _ request: TxnRequest, _ body: (RequestOp) throws(MVCCError) -> Void
    ) throws(MVCCError) {
        var nestedIndex = 0
        for op in operations(of: request) {
            if case .txn(let inner) = op {
                try nested[nestedIndex].forEachOperation(inner, body)
                nestedIndex += 1
            } else {
                try body(op)
            }
        }
    }
}

extension TxnPlan {
    /// Runs the branch this plan chose: reads through `read`, writes (puts and deletes) through
    /// `write`, nested transactions by their own plans, responses in request order.
    /// - Precondition: the plan's checks passed, so no read fails.
    func respond(
        to request: TxnRequest,
        read: (RangeRequest) throws(MVCCError) -> RangeResponse,
        write: (RequestOp) -> ResponseOp
    ) -> TxnResponse {
        var responses: [ResponseOp] = []
        var nestedIndex = 0
        for op in operations(of: request) {
            switch op {
            case .range(let range):
                do {
                    responses.append(.range(try read(range)))
                } catch {
                    preconditionFailure("range failed after its checks passed: \(error)")
                }
            case .txn(let inner):
                responses.append(.txn(nested[nestedIndex].respond(to: inner, read: read, write: write)))
                nestedIndex += 1
            case .put, .deleteRange:
                responses.append(write(op))
            }
        }
        return TxnResponse(revision: 0, succeeded: succeeded, responses: responses)
    }
}
