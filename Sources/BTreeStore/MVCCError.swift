/// The errors of the store, each carrying etcd's message and gRPC status.
package enum MVCCError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A read or compaction at a revision already compacted away.
    case compacted
    /// A read or compaction at a revision not yet written.
    case futureRevision
    /// A request without a key.
    case emptyKey
    /// A Put with `ignore_value` or `ignore_lease` on a key that does not exist.
    case keyNotFound
    /// A Put with `ignore_value` that also carries a value.
    case valueProvided
    /// A Put with `ignore_lease` that also carries a lease.
    case leaseProvided
    /// A Txn with more operations in one branch (or compares) than allowed.
    case tooManyOperations
    /// A Txn that writes one key twice, or puts a key it deletes.
    case duplicateKey
    /// A Put naming a lease the lessor does not know.
    case leaseNotFound

    /// The message of etcd's `mvcc` package or of its API checks.
    package var message: String {
        switch self {
        case .compacted: "mvcc: required revision has been compacted"
        case .futureRevision: "mvcc: required revision is a future revision"
        case .emptyKey: "etcdserver: key is not provided"
        case .keyNotFound: "etcdserver: key not found"
        case .valueProvided: "etcdserver: value is provided"
        case .leaseProvided: "etcdserver: lease is provided"
        case .tooManyOperations: "etcdserver: too many operations in txn request"
        case .duplicateKey: "etcdserver: duplicate key given in txn request"
        case .leaseNotFound: "etcdserver: requested lease not found"
        }
    }

    /// The gRPC status message etcd sends (`rpctypes/error.go`).
    package var grpcMessage: String {
        switch self {
        case .compacted, .futureRevision: "etcdserver: " + message
        default: message
        }
    }

    /// The gRPC status code etcd sends, by its number (OutOfRange 11, InvalidArgument 3, NotFound 5).
    package var grpcStatusCode: Int {
        switch self {
        case .compacted, .futureRevision: 11
        case .leaseNotFound: 5
        default: 3
        }
    }

    /// The message, as etcd's `mvcc` package or API checks word it.
    package var description: String { message }
}
