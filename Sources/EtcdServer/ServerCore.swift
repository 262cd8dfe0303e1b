import BTreeStore
import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC
import NIOCore
import Logging
import SnapshotFile
import Synchronization

/// What every gRPC service shares: the driver to propose through, the published store views,
/// the lessor, alarms and identity. Safe to use from any task.
package final class ServerCore: Sendable {
    package let configuration: ServerConfiguration
    package let identity: MemberIdentity
    let driver: RaftDriver
    package let members: ClusterMembers
    let transport: PeerTransport
    /// Stops this member: a peer told it that it was removed from the cluster.
    let removedFromCluster: @Sendable () -> Void
    package let readViews: ReadViewSource
    package let watchHub: WatchHub
    /// The watch streams' shared encodings of the hub's events.
    let encodedWatchEvents = EncodedEvents()
    package let lessor: Lessor
    package let alarms: AlarmList
    package let metrics: ServerMetrics
    package let logger: Logger
    let snapshots: SnapshotDirectory
    /// The space quota in bytes (etcd's default is 2 GiB).
    let quotaBytes: Int64

    static let serverVersion = "3.4.23"
    static let clusterVersion = "3.4.0"
    static let defaultQuotaBytes: Int64 = 2 << 30

    init(configuration: ServerConfiguration, identity: MemberIdentity, driver: RaftDriver, members: ClusterMembers,
         transport: PeerTransport, readViews: ReadViewSource, watchHub: WatchHub, lessor: Lessor, alarms: AlarmList,
         metrics: ServerMetrics, logger: Logger, snapshots: SnapshotDirectory,
         removedFromCluster: @escaping @Sendable () -> Void) {
        self.configuration = configuration
        self.identity = identity
        self.driver = driver
        self.members = members
        self.transport = transport
        self.removedFromCluster = removedFromCluster
        self.readViews = readViews
        self.watchHub = watchHub
        self.lessor = lessor
        self.alarms = alarms
        self.metrics = metrics
        self.logger = logger
        self.snapshots = snapshots
        quotaBytes = configuration.quotaBackendBytes > 0 ? configuration.quotaBackendBytes : Self.defaultQuotaBytes
    }

    func header(revision: Int64) -> Etcdserverpb_ResponseHeader {
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = identity.clusterID
        header.memberID = identity.memberID
        header.revision = revision
        header.raftTerm = driver.raftStatus.term
        return header
    }

    /// Proposes and unwraps the expected result, or throws the caller's gRPC error.
    func propose<Response>(_ request: InternalRequest, _ extract: (ApplyResult) -> Response?) async throws -> Response {
        let result = await withCheckedContinuation { continuation in
            driver.propose(request) { continuation.resume(returning: $0) }
        }
        return try Self.unwrap(result, extract).get()
    }

    /// The response a caller expects from an apply result, or its gRPC error.
    private static func unwrap<Response>(_ result: ApplyResult, _ extract: (ApplyResult) -> Response?) -> Result<Response, RPCError> {
        if case .failure(let error) = result { return .failure(error.rpcError) }
        guard let response = extract(result) else {
            return .failure(RPCError(code: .internalError, message: "etcdserver: unexpected apply result \(result)"))
        }
        return .success(response)
    }

    /// Proposes and answers `responder` with the expected result once it is applied. With
    /// `quotaBytes`, the write is first checked against the space quota.
    func propose<Response: Sendable>(_ request: InternalRequest, quotaBytes: Int? = nil,
                                     _ responder: UnaryResponder<Response>,
                                     _ extract: @escaping @Sendable (ApplyResult) -> Response?) {
        if let quotaBytes, !quotaAllows(requestBytes: quotaBytes) {
            // Over the quota (or the alarm is up): the slow path raises the alarm and refuses.
            Task {
                do {
                    try await checkQuota(requestBytes: quotaBytes)
                    propose(request, responder, extract)
                } catch {
                    responder.fail(error.rpcError)
                }
            }
            return
        }
        driver.propose(request) { result in
            switch Self.unwrap(result, extract) {
            case .success(let response): responder.succeed(response)
            case .failure(let error): responder.fail(error)
            }
        }
    }

    /// Whether a read waits for a ReadIndex round: unless the client accepts a possibly stale
    /// (serializable) answer, or the test failpoint that skips it is on.
    private func needsReadIndex(serializable: Bool) -> Bool {
        !serializable && configuration.failpoints[.linearizableReadsSkipReadIndex] == nil
    }

    /// Calls `body` on `eventLoop` with the view a read is served from: at once when the client
    /// accepts a possibly stale (serializable) answer, otherwise after a ReadIndex round.
    func withReadView(serializable: Bool, on eventLoop: any EventLoop,
                      _ body: @escaping @Sendable (Result<ReadView, RPCError>) -> Void) {
        if !needsReadIndex(serializable: serializable) { return body(.success(readViews.current())) }
        let readViews = readViews
        driver.linearizableBarrier { error in
            // Not on the driver's thread: serving the read could take a while.
            eventLoop.execute {
                if let error { body(.failure(error.rpcError)) } else { body(.success(readViews.current())) }
            }
        }
    }

    /// The view a read is served from: after a ReadIndex round unless the client accepts a
    /// possibly stale (serializable) answer.
    func readView(serializable: Bool) async throws -> ReadView {
        if needsReadIndex(serializable: serializable) {
            do {
                try await driver.linearizableBarrier()
            } catch let error as ServerError {
                throw error.rpcError
            }
        }
        return readViews.current()
    }

    /// etcd's quota check before a write that adds data: over the quota, raise the NOSPACE alarm
    /// (through Raft, once) and refuse.
    func checkQuota(requestBytes: Int) async throws {
        if quotaAllows(requestBytes: requestBytes) { return }
        if !alarms.noSpace {
            var alarm = Etcdserverpb_AlarmRequest()
            alarm.action = .activate
            alarm.memberID = identity.memberID
            alarm.alarm = .nospace
            logger.warning("etcdserver: alarm NOSPACE raised by member \(hex(identity.memberID)): database space exceeded")
            _ = try? await driver.propose(.alarm(alarm))
        }
        throw ServerError.noSpace.rpcError
    }

    /// Whether a write adding `requestBytes` fits the quota with no NOSPACE alarm up.
    func quotaAllows(requestBytes: Int) -> Bool {
        // etcd's cost of a request: its size plus the bookkeeping of a revision.
        let cost = Int64(requestBytes) + 32
        return readViews.current().historyBytes + cost < quotaBytes && !alarms.noSpace
    }

    /// Physical size of our durable state: the newest snapshot file and the WAL after it.
    var databaseSize: Int64 {
        let status = driver.raftStatus
        return Int64(status.walBytes) + (snapshots.newestFileSize() ?? 0)
    }
}

extension Error {
    /// The gRPC error a handler answers with.
    var rpcError: RPCError {
        if let error = self as? RPCError { return error }
        if let error = self as? ServerError { return error.rpcError }
        if let error = self as? MVCCError { return ServerError(error).rpcError }
        return RPCError(code: .unknown, message: "\(self)")
    }
}
