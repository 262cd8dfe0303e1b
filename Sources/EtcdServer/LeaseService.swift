import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC

/// etcd's Lease service. Grants and revocations go through Raft; keep-alives and queries are
/// answered by the leader's lessor (a follower forwards them).
struct LeaseService {
    let core: ServerCore

    func leaseGrant(request: Etcdserverpb_LeaseGrantRequest) async throws -> Etcdserverpb_LeaseGrantResponse {
        var grant = request
        // etcd picks positive ids only.
        while grant.id == 0 { grant.id = Int64(bitPattern: core.driver.nextID & ((1 << 63) - 1)) }
        if grant.ttl > Lessor.maximumTTL { throw ServerError.leaseTTLTooLarge.rpcError }
        try await core.checkQuota(requestBytes: 16)
        return try await core.propose(.leaseGrant(grant)) { result in
            if case .leaseGrant(let response) = result { response } else { nil }
        }
    }

    func leaseRevoke(request: Etcdserverpb_LeaseRevokeRequest) async throws -> Etcdserverpb_LeaseRevokeResponse {
        try await core.propose(.leaseRevoke(request)) { result in
            if case .leaseRevoke(let response) = result { response } else { nil }
        }
    }

    func leaseKeepAlive(request: GRPCRequestStream<Etcdserverpb_LeaseKeepAliveRequest>,
                        response: GRPCResponseWriter<Etcdserverpb_LeaseKeepAliveResponse>) async throws {
        for try await keepAlive in request {
            var answer = Etcdserverpb_LeaseKeepAliveResponse()
            answer.id = keepAlive.id
            answer.ttl = try await core.keepAlive(keepAlive.id)
            answer.header = core.header(revision: core.readViews.current().revision)
            try await response.write(answer)
        }
    }

    func leaseTimeToLive(request: Etcdserverpb_LeaseTimeToLiveRequest) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        // Linearizable like etcd: the lease's grant must have been applied here.
        _ = try await core.readView(serializable: false)
        return try await core.timeToLive(request)
    }

    func leaseLeases(request: Etcdserverpb_LeaseLeasesRequest) async throws -> Etcdserverpb_LeaseLeasesResponse {
        _ = try await core.readView(serializable: false)
        var answer = Etcdserverpb_LeaseLeasesResponse()
        answer.header = core.header(revision: core.readViews.current().revision)
        answer.leases = core.lessor.ids().map { id in
            var status = Etcdserverpb_LeaseStatus()
            status.id = id
            return status
        }
        return answer
    }
}
