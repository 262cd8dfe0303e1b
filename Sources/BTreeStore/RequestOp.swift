/// One operation of a Txn branch: etcd's `RequestOp`.
package indirect enum RequestOp: Hashable, Sendable {
    /// A read.
    case range(RangeRequest)
    /// A write.
    case put(PutRequest)
    /// A deletion.
    case deleteRange(DeleteRangeRequest)
    /// A nested transaction.
    case txn(TxnRequest)
}
