import GRPCCore

/// An error answered by an etcd server, or raised by the client on its way there.
///
/// `code` tells which of etcd's errors it is (`etcdserver/api/v3rpc/rpctypes/error.go`); it is
/// recognised from the gRPC status code and message the server sent, so it works against any etcd 3.x
/// server, ours or the reference. Unknown server errors keep their gRPC code and message as `.other`.
public struct EtcdError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which etcd error this is.
    public var code: Code
    /// The gRPC status code the server answered with.
    public var grpcCode: RPCError.Code
    /// The message as the server sent it, e.g. "etcdserver: mvcc: required revision has been compacted".
    public var message: String
    /// For a watch cancelled because its start revision was compacted: the compaction revision.
    public var compactRevision: Int64?

    /// The line etcdctl prints for this error.
    public var description: String { message }

    /// Creates an error with an explicit code.
    public init(code: Code, grpcCode: RPCError.Code, message: String, compactRevision: Int64? = nil) {
        self.code = code
        self.grpcCode = grpcCode
        self.message = message
        self.compactRevision = compactRevision
    }

    /// Recognises one of etcd's errors in a gRPC error.
    public init(_ error: RPCError) {
        let known = Code.byMessage[error.message]
        self.init(code: known ?? .other, grpcCode: error.code, message: error.message)
    }

    /// One of etcd's errors. New cases may be added, so switch over it with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let emptyKey = Code("emptyKey")
        public static let keyNotFound = Code("keyNotFound")
        public static let valueProvided = Code("valueProvided")
        public static let leaseProvided = Code("leaseProvided")
        public static let tooManyOps = Code("tooManyOps")
        public static let duplicateKey = Code("duplicateKey")
        public static let compacted = Code("compacted")
        public static let futureRevision = Code("futureRevision")
        public static let noSpace = Code("noSpace")
        public static let leaseNotFound = Code("leaseNotFound")
        public static let leaseExists = Code("leaseExists")
        public static let leaseTTLTooLarge = Code("leaseTTLTooLarge")
        public static let watchCanceled = Code("watchCanceled")
        public static let memberExists = Code("memberExists")
        public static let peerURLExists = Code("peerURLExists")
        public static let memberNotEnoughStarted = Code("memberNotEnoughStarted")
        public static let memberBadURLs = Code("memberBadURLs")
        public static let memberNotFound = Code("memberNotFound")
        public static let memberNotLearner = Code("memberNotLearner")
        public static let learnerNotReady = Code("learnerNotReady")
        public static let tooManyLearners = Code("tooManyLearners")
        public static let requestTooLarge = Code("requestTooLarge")
        public static let tooManyRequests = Code("tooManyRequests")
        public static let rootUserNotExist = Code("rootUserNotExist")
        public static let rootRoleNotExist = Code("rootRoleNotExist")
        public static let userAlreadyExists = Code("userAlreadyExists")
        public static let userEmpty = Code("userEmpty")
        public static let userNotFound = Code("userNotFound")
        public static let roleAlreadyExists = Code("roleAlreadyExists")
        public static let roleNotFound = Code("roleNotFound")
        public static let roleEmpty = Code("roleEmpty")
        public static let authFailed = Code("authFailed")
        public static let permissionDenied = Code("permissionDenied")
        public static let roleNotGranted = Code("roleNotGranted")
        public static let permissionNotGranted = Code("permissionNotGranted")
        public static let authNotEnabled = Code("authNotEnabled")
        public static let invalidAuthToken = Code("invalidAuthToken")
        public static let invalidAuthManagement = Code("invalidAuthManagement")
        public static let authOldRevision = Code("authOldRevision")
        public static let noLeader = Code("noLeader")
        public static let notLeader = Code("notLeader")
        public static let leaderChanged = Code("leaderChanged")
        public static let notCapable = Code("notCapable")
        public static let stopped = Code("stopped")
        public static let timeout = Code("timeout")
        public static let timeoutDueToLeaderFail = Code("timeoutDueToLeaderFail")
        public static let timeoutDueToConnectionLost = Code("timeoutDueToConnectionLost")
        public static let timeoutWaitAppliedIndex = Code("timeoutWaitAppliedIndex")
        public static let unhealthy = Code("unhealthy")
        public static let corrupt = Code("corrupt")
        public static let notSupportedForLearner = Code("notSupportedForLearner")
        public static let badLeaderTransferee = Code("badLeaderTransferee")
        /// No etcd server could be reached on any endpoint.
        public static let unavailable = Code("unavailable")
        /// The call's deadline passed.
        public static let deadlineExceeded = Code("deadlineExceeded")
        /// An error etcd does not name; `grpcCode` and `message` say what it was.
        public static let other = Code("other")

        /// etcd's gRPC code and message for each named error (`rpctypes/error.go`).
        public static let catalog: [(code: Code, grpcCode: RPCError.Code, message: String)] = [
            (.emptyKey, .invalidArgument, "etcdserver: key is not provided"),
            (.keyNotFound, .invalidArgument, "etcdserver: key not found"),
            (.valueProvided, .invalidArgument, "etcdserver: value is provided"),
            (.leaseProvided, .invalidArgument, "etcdserver: lease is provided"),
            (.tooManyOps, .invalidArgument, "etcdserver: too many operations in txn request"),
            (.duplicateKey, .invalidArgument, "etcdserver: duplicate key given in txn request"),
            (.compacted, .outOfRange, "etcdserver: mvcc: required revision has been compacted"),
            (.futureRevision, .outOfRange, "etcdserver: mvcc: required revision is a future revision"),
            (.noSpace, .resourceExhausted, "etcdserver: mvcc: database space exceeded"),
            (.leaseNotFound, .notFound, "etcdserver: requested lease not found"),
            (.leaseExists, .failedPrecondition, "etcdserver: lease already exists"),
            (.leaseTTLTooLarge, .outOfRange, "etcdserver: too large lease TTL"),
            (.watchCanceled, .cancelled, "etcdserver: watch canceled"),
            (.memberExists, .failedPrecondition, "etcdserver: member ID already exist"),
            (.peerURLExists, .failedPrecondition, "etcdserver: Peer URLs already exists"),
            (.memberNotEnoughStarted, .failedPrecondition,
             "etcdserver: re-configuration failed due to not enough started members"),
            (.memberBadURLs, .invalidArgument, "etcdserver: given member URLs are invalid"),
            (.memberNotFound, .notFound, "etcdserver: member not found"),
            (.memberNotLearner, .failedPrecondition, "etcdserver: can only promote a learner member"),
            (.learnerNotReady, .failedPrecondition,
             "etcdserver: can only promote a learner member which is in sync with leader"),
            (.tooManyLearners, .failedPrecondition, "etcdserver: too many learner members in cluster"),
            (.requestTooLarge, .invalidArgument, "etcdserver: request is too large"),
            (.tooManyRequests, .resourceExhausted, "etcdserver: too many requests"),
            (.rootUserNotExist, .failedPrecondition, "etcdserver: root user does not exist"),
            (.rootRoleNotExist, .failedPrecondition, "etcdserver: root user does not have root role"),
            (.userAlreadyExists, .failedPrecondition, "etcdserver: user name already exists"),
            (.userEmpty, .invalidArgument, "etcdserver: user name is empty"),
            (.userNotFound, .failedPrecondition, "etcdserver: user name not found"),
            (.roleAlreadyExists, .failedPrecondition, "etcdserver: role name already exists"),
            (.roleNotFound, .failedPrecondition, "etcdserver: role name not found"),
            (.roleEmpty, .invalidArgument, "etcdserver: role name is empty"),
            (.authFailed, .invalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
            (.permissionDenied, .permissionDenied, "etcdserver: permission denied"),
            (.roleNotGranted, .failedPrecondition, "etcdserver: role is not granted to the user"),
            (.permissionNotGranted, .failedPrecondition, "etcdserver: permission is not granted to the role"),
            (.authNotEnabled, .failedPrecondition, "etcdserver: authentication is not enabled"),
            (.invalidAuthToken, .unauthenticated, "etcdserver: invalid auth token"),
            (.invalidAuthManagement, .invalidArgument, "etcdserver: invalid auth management"),
            (.authOldRevision, .invalidArgument, "etcdserver: revision of auth store is old"),
            (.noLeader, .unavailable, "etcdserver: no leader"),
            (.notLeader, .failedPrecondition, "etcdserver: not leader"),
            (.leaderChanged, .unavailable, "etcdserver: leader changed"),
            (.notCapable, .unavailable, "etcdserver: not capable"),
            (.stopped, .unavailable, "etcdserver: server stopped"),
            (.timeout, .unavailable, "etcdserver: request timed out"),
            (.timeoutDueToLeaderFail, .unavailable,
             "etcdserver: request timed out, possibly due to previous leader failure"),
            (.timeoutDueToConnectionLost, .unavailable,
             "etcdserver: request timed out, possibly due to connection lost"),
            (.timeoutWaitAppliedIndex, .unavailable,
             "etcdserver: request timed out, waiting for the applied index took too long"),
            (.unhealthy, .unavailable, "etcdserver: unhealthy cluster"),
            (.corrupt, .dataLoss, "etcdserver: corrupt cluster"),
            (.notSupportedForLearner, .unavailable, "etcdserver: rpc not supported for learner"),
            (.badLeaderTransferee, .failedPrecondition, "etcdserver: bad leader transferee"),
        ]

        fileprivate static let byMessage: [String: Code] = Dictionary(
            uniqueKeysWithValues: catalog.map { ($0.message, $0.code) })
    }

    /// The error etcd answers for `code`, with etcd's gRPC code and message.
    public static func etcd(_ code: Code) -> EtcdError {
        guard let entry = Code.catalog.first(where: { $0.code == code }) else {
            return EtcdError(code: code, grpcCode: .unknown, message: "etcdserver: \(code)")
        }
        return EtcdError(code: entry.code, grpcCode: entry.grpcCode, message: entry.message)
    }
}

extension EtcdError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code { grpcCode }
    public var rpcErrorMessage: String { message }
}
