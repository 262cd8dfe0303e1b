/// The answer to one `RequestOp`: etcd's `ResponseOp`.
package indirect enum ResponseOp: Hashable, Sendable {
    /// Answer to a read.
    case range(RangeResponse)
    /// Answer to a write.
    case put(PutResponse)
    /// Answer to a deletion.
    case deleteRange(DeleteRangeResponse)
    /// Answer to a nested transaction.
    case txn(TxnResponse)
}
