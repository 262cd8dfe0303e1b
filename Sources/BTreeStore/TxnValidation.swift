/// The request checks etcd's API layer makes before a request reaches the store
/// (`v3rpc/key.go`: `checkRangeRequest`, `checkPutRequest`, `checkTxnRequest`, `checkIntervals`),
/// with etcd's order of checks so the same request fails with the same error.
package enum TxnValidation {
    /// etcd's default `--max-txn-ops`.
    package static let defaultMaximumOperations = 128

    package static func check(_ request: RangeRequest) throws(MVCCError) {
        if request.key.isEmpty { throw .emptyKey }
    }

    package static func check(_ request: PutRequest) throws(MVCCError) {
        if request.key.isEmpty { throw .emptyKey }
        if request.ignoreValue && !request.value.isEmpty { throw .valueProvided }
        if request.ignoreLease && request.lease != 0 { throw .leaseProvided }
    }

    package static func check(_ request: DeleteRangeRequest) throws(MVCCError) {
        if request.key.isEmpty { throw .emptyKey }
    }

    /// `checkTxnRequest` followed by `checkIntervals` on both branches.
    package static func check(_ request: TxnRequest, maximumOperations: Int) throws(MVCCError) {
        try checkShape(request, maximumOperations: maximumOperations)
        _ = try checkIntervals(request.success)
        _ = try checkIntervals(request.failure)
    }

    private static func checkShape(_ request: TxnRequest, maximumOperations: Int) throws(MVCCError) {
        let operations = Swift.max(request.compare.count, request.success.count, request.failure.count)
        if operations > maximumOperations { throw .tooManyOperations }
        for compare in request.compare where compare.key.isEmpty { throw .emptyKey }
        // As in etcd, a nested transaction gets the budget left after its parent's widest part.
        for op in request.success + request.failure {
            switch op {
            case .range(let range): try check(range)
            case .put(let put): try check(put)
            case .deleteRange(let delete): try check(delete)
            case .txn(let nested): try checkShape(nested, maximumOperations: maximumOperations - operations)
            }
        }
    }

    /// A deleted key range as etcd's interval tree holds it: `[key, rangeEnd)` compared as
    /// strings, or the point `key`. The raw `rangeEnd` is used, so a from-key deletion (`"\0"`)
    /// is an empty interval here, as it is in etcd.
    private struct DeletedInterval {
        var key: [UInt8]
        var rangeEnd: [UInt8]

        func contains(_ point: [UInt8]) -> Bool {
            if rangeEnd.isEmpty { return point == key }
            return [UInt8].compare(key, point) <= 0 && [UInt8].compare(point, rangeEnd) < 0
        }
    }

    /// Fails if a put in `ops` (or in nested transactions) writes a key that another put in a
    /// branch that may run together with it writes, or that a deletion at the same or an outer
    /// level covers. Returns the puts and deletions for the enclosing level.
    private static func checkIntervals(_ ops: [RequestOp]) throws(MVCCError)
        -> (puts: Set<HashedBytes>, deletions: [DeletedInterval])
    {
        var deletions: [DeletedInterval] = []
        for case .deleteRange(let delete) in ops {
            deletions.append(DeletedInterval(key: delete.key, rangeEnd: delete.rangeEnd))
        }
        func deleted(_ key: [UInt8]) -> Bool { deletions.contains { $0.contains(key) } }

        var puts: Set<HashedBytes> = []
        for case .txn(let nested) in ops {
            let (putsThen, deletionsThen) = try checkIntervals(nested.success)
            let (putsElse, deletionsElse) = try checkIntervals(nested.failure)
            for key in putsThen {
                if puts.contains(key) || deleted(key.bytes) { throw .duplicateKey }
                puts.insert(key)
            }
            for key in putsElse {
                // The same key in both branches is fine: only one branch runs.
                if puts.contains(key) && !putsThen.contains(key) { throw .duplicateKey }
                if deleted(key.bytes) { throw .duplicateKey }
                puts.insert(key)
            }
            deletions += deletionsThen + deletionsElse
        }
        for case .put(let put) in ops {
            let key = HashedBytes(put.key)
            if puts.contains(key) || deleted(put.key) { throw .duplicateKey }
            puts.insert(key)
        }
        return (puts, deletions)
    }
}
