/// The answer to a `TxnRequest`: etcd's `TxnResponse`.
package struct TxnResponse: Hashable, Sendable {
    /// The store's revision after the transaction. As in etcd, 0 in nested transactions.
    package var revision: Int64
    /// Whether the compares held.
    package var succeeded: Bool
    /// One answer per operation of the branch that ran.
    package var responses: [ResponseOp]
}
