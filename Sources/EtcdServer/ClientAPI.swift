import EtcdProto
import GRPCCore
import LeanGRPC

extension GRPCMethodTable {
    /// etcd's v3 API as a member serves it on its client URLs. The Auth service is not served:
    /// its calls answer Unimplemented ("unknown service etcdserverpb.Auth"), as an unregistered
    /// service does in grpc-go.
    static func etcd(core: ServerCore) -> GRPCMethodTable {
        var table = GRPCMethodTable()
        table.errorMapping = { $0.rpcError }
        let metrics = core.metrics
        table.completion = { name, kind, code in
            metrics.countHandled(type: kind.rawValue, service: name.service, method: name.method,
                                 code: code.map(grpcCodeName) ?? "OK")
        }
        // A learner serves only Status and serializable Range, as etcd's learners do; every other
        // call, streams included, gets "rpc not supported for learner" (Range checks
        // `serializable` itself).
        table.admission = { name in
            core.isLearner && name.method != "Status" && name.method != "Range"
                ? ServerError.notSupportedForLearner.rpcError : nil
        }

        let kv = KVService(core: core)
        table.addUnary(service: "etcdserverpb.KV", method: "Range", kv.range)
        table.addUnary(service: "etcdserverpb.KV", method: "Put", kv.put)
        table.addUnary(service: "etcdserverpb.KV", method: "DeleteRange", kv.deleteRange)
        table.addUnary(service: "etcdserverpb.KV", method: "Txn", kv.txn)
        table.addAsyncUnary(service: "etcdserverpb.KV", method: "Compact", kv.compact)

        let watch = WatchService(core: core)
        table.addStream(service: "etcdserverpb.Watch", method: "Watch", kind: .bidiStream, watch.watch)

        let lease = LeaseService(core: core)
        table.addAsyncUnary(service: "etcdserverpb.Lease", method: "LeaseGrant", lease.leaseGrant)
        table.addAsyncUnary(service: "etcdserverpb.Lease", method: "LeaseRevoke", lease.leaseRevoke)
        table.addStream(service: "etcdserverpb.Lease", method: "LeaseKeepAlive", kind: .bidiStream, lease.leaseKeepAlive)
        table.addAsyncUnary(service: "etcdserverpb.Lease", method: "LeaseTimeToLive", lease.leaseTimeToLive)
        table.addAsyncUnary(service: "etcdserverpb.Lease", method: "LeaseLeases", lease.leaseLeases)

        let cluster = ClusterService(core: core)
        table.addAsyncUnary(service: "etcdserverpb.Cluster", method: "MemberAdd", cluster.memberAdd)
        table.addAsyncUnary(service: "etcdserverpb.Cluster", method: "MemberRemove", cluster.memberRemove)
        table.addAsyncUnary(service: "etcdserverpb.Cluster", method: "MemberUpdate", cluster.memberUpdate)
        table.addAsyncUnary(service: "etcdserverpb.Cluster", method: "MemberList", cluster.memberList)
        table.addAsyncUnary(service: "etcdserverpb.Cluster", method: "MemberPromote", cluster.memberPromote)

        let maintenance = MaintenanceService(core: core)
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "Alarm", maintenance.alarm)
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "Status", maintenance.status)
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "Defragment", maintenance.defragment)
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "Hash", maintenance.hash)
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "HashKV", maintenance.hashKV)
        table.addStream(service: "etcdserverpb.Maintenance", method: "Snapshot", kind: .serverStream) {
            (requests: GRPCRequestStream<Etcdserverpb_SnapshotRequest>, response: GRPCResponseWriter<Etcdserverpb_SnapshotResponse>) in
            var iterator = requests.makeAsyncIterator()
            guard let request = try await iterator.next() else {
                throw RPCError(code: .internalError, message: "grpc: the client sent no request message")
            }
            try await maintenance.snapshot(request: request, response: response)
        }
        table.addAsyncUnary(service: "etcdserverpb.Maintenance", method: "MoveLeader", maintenance.moveLeader)
        return table
    }
}

extension ServerCore {
    var isLearner: Bool { members.member(identity.memberID)?.isLearner ?? false }
}

/// gRPC's canonical code names, as Go's grpc-prometheus labels them.
func grpcCodeName(_ code: RPCError.Code) -> String {
    switch code {
    case .cancelled: "Canceled"
    case .unknown: "Unknown"
    case .invalidArgument: "InvalidArgument"
    case .deadlineExceeded: "DeadlineExceeded"
    case .notFound: "NotFound"
    case .alreadyExists: "AlreadyExists"
    case .permissionDenied: "PermissionDenied"
    case .resourceExhausted: "ResourceExhausted"
    case .failedPrecondition: "FailedPrecondition"
    case .aborted: "Aborted"
    case .outOfRange: "OutOfRange"
    case .unimplemented: "Unimplemented"
    case .internalError: "Internal"
    case .unavailable: "Unavailable"
    case .dataLoss: "DataLoss"
    case .unauthenticated: "Unauthenticated"
    default: "Unknown"
    }
}
