import BTreeStore
import GRPCCore
import LeanGRPC

/// The errors the server answers with, each with etcd's gRPC code and message
/// (`etcdserver/api/v3rpc/rpctypes/error.go`), so clients recognise them by message as they do
/// with etcd.
package struct ServerError: Error, Hashable, Sendable, CustomStringConvertible {
    package var code: RPCError.Code
    package var message: String

    package init(_ code: RPCError.Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }

    package var rpcError: RPCError { RPCError(code: code, message: message) }

    package init(_ error: MVCCError) {
        self.init(RPCError.Code(rawStatus: error.grpcStatusCode), error.grpcMessage)
    }

    package static let noSpace = ServerError(.resourceExhausted, "etcdserver: mvcc: database space exceeded")
    package static let leaseNotFound = ServerError(.notFound, "etcdserver: requested lease not found")
    package static let leaseExists = ServerError(.failedPrecondition, "etcdserver: lease already exists")
    package static let leaseTTLTooLarge = ServerError(.outOfRange, "etcdserver: too large lease TTL")
    package static let requestTooLarge = ServerError(.invalidArgument, "etcdserver: request is too large")
    package static let tooManyRequests = ServerError(.resourceExhausted, "etcdserver: too many requests")
    package static let noLeader = ServerError(.unavailable, "etcdserver: no leader")
    package static let notLeader = ServerError(.failedPrecondition, "etcdserver: not leader")
    package static let stopped = ServerError(.unavailable, "etcdserver: server stopped")
    package static let timeout = ServerError(.unavailable, "etcdserver: request timed out")
    package static let corrupt = ServerError(.dataLoss, "etcdserver: corrupt cluster")
    package static let badLeaderTransferee = ServerError(.failedPrecondition, "etcdserver: bad leader transferee")
    package static let memberNotFound = ServerError(.notFound, "etcdserver: member not found")
    package static let memberExists = ServerError(.failedPrecondition, "etcdserver: member ID already exist")
    package static let peerURLExists = ServerError(.failedPrecondition, "etcdserver: Peer URLs already exists")
    package static let notEnoughStarted = ServerError(.failedPrecondition, "etcdserver: re-configuration failed due to not enough started members")
    package static let memberBadURLs = ServerError(.invalidArgument, "etcdserver: given member URLs are invalid")
    package static let memberNotLearner = ServerError(.failedPrecondition, "etcdserver: can only promote a learner member")
    package static let learnerNotReady = ServerError(.failedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader")
    package static let tooManyLearners = ServerError(.failedPrecondition, "etcdserver: too many learner members in cluster")
    package static let unhealthy = ServerError(.unavailable, "etcdserver: unhealthy cluster")
    package static let notSupportedForLearner = ServerError(.unavailable, "etcdserver: rpc not supported for learner")
    package static let emptyKey = ServerError(MVCCError.emptyKey)
}
