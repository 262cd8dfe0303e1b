/// An atomic if-then-else: etcd's `TxnRequest`.
package struct TxnRequest: Hashable, Sendable {
    /// All must hold for `success` to run; otherwise `failure` runs.
    package var compare: [Compare]
    /// Run when every compare holds.
    package var success: [RequestOp]
    /// Run otherwise.
    package var failure: [RequestOp]

    /// A transaction.
    package init(compare: [Compare] = [], success: [RequestOp] = [], failure: [RequestOp] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }

    /// Whether any branch, at any depth, writes (etcd's `isTxnReadonly`, negated).
    package var hasWrites: Bool {
        (success + failure).contains { op in
            switch op {
            case .put, .deleteRange: true
            case .range: false
            case .txn(let nested): nested.hasWrites
            }
        }
    }
}
