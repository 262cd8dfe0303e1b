import BTreeStore
import EtcdProto
import Foundation
import GRPCCore
import Raft

/// etcd's Cluster service. Changes go through Raft as conf-change entries (add, promote, remove)
/// or requests (new peer URLs); with `--strict-reconfig-check`, changes that could cost the
/// cluster its quorum are refused first, by etcd's rules.
struct ClusterService {
    let core: ServerCore

    /// etcd's `HealthInterval`: a peer counts as connected once its stream has been up this long.
    static let healthInterval = Duration.seconds(5)

    func memberList(request: Etcdserverpb_MemberListRequest) async throws -> Etcdserverpb_MemberListResponse {
        var answer = Etcdserverpb_MemberListResponse()
        answer.header = header
        answer.members = core.members.all.map(\.proto)
        return answer
    }

    func memberAdd(request: Etcdserverpb_MemberAddRequest) async throws -> Etcdserverpb_MemberAddResponse {
        try Self.checkURLs(request.peerUrls)
        // etcd's id for an added member: its URLs and the time, so a re-added member gets a new id.
        let id = MemberIDs.member(peerURLs: request.peerUrls,
                                  token: String(Int(Date().timeIntervalSince1970)))
        let member = ClusterMember(id: id, name: "", peerURLs: request.peerUrls, clientURLs: [],
                                   isLearner: request.isLearner)
        if core.configuration.strictReconfigCheck && !request.isLearner {
            let voters = core.members.votingMembers
            let started = voters.filter(\.isStarted).count
            // Adding a second member to a one-member cluster is how a cluster is grown from one.
            if !(started == 1 && voters.count + 1 == 2) && started < (voters.count + 1) / 2 + 1 {
                throw ServerError.notEnoughStarted.rpcError
            }
            if !connectedToAll(voters) { throw ServerError.unhealthy.rpcError }
        }
        let members = try await change(request.isLearner ? .addLearnerNode : .addNode, member)
        var answer = Etcdserverpb_MemberAddResponse()
        answer.header = header
        answer.member = member.proto
        answer.members = members.map(\.proto)
        return answer
    }

    func memberRemove(request: Etcdserverpb_MemberRemoveRequest) async throws -> Etcdserverpb_MemberRemoveResponse {
        guard let member = core.members.member(request.id) else { throw ServerError.memberNotFound.rpcError }
        if core.configuration.strictReconfigCheck && !member.isLearner {
            let others = core.members.votingMembers.filter { $0.id != member.id }
            if others.filter(\.isStarted).count < others.count / 2 + 1 {
                throw ServerError.notEnoughStarted.rpcError
            }
            // A member that is down is not part of the active quorum: removing it costs nothing.
            let isDown = member.id != core.identity.memberID && core.transport.activeSince(member.id) == nil
            if !isDown {
                let voters = core.members.votingMembers
                let active = connectedCount(voters)
                if active - 1 < 1 + (voters.count - 1) / 2 { throw ServerError.unhealthy.rpcError }
            }
        }
        let members = try await change(.removeNode, member)
        var answer = Etcdserverpb_MemberRemoveResponse()
        answer.header = header
        answer.members = members.map(\.proto)
        return answer
    }

    func memberUpdate(request: Etcdserverpb_MemberUpdateRequest) async throws -> Etcdserverpb_MemberUpdateResponse {
        try Self.checkURLs(request.peerUrls)
        guard core.members.member(request.id) != nil else { throw ServerError.memberNotFound.rpcError }
        var update = Etcdserverpb_Member()
        update.id = request.id
        update.peerUrls = request.peerUrls
        _ = try await core.propose(.memberPeerURLs(update)) { result in
            if case .memberUpdated = result { () } else { nil }
        }
        var answer = Etcdserverpb_MemberUpdateResponse()
        answer.header = header
        answer.members = core.members.all.map(\.proto)
        return answer
    }

    func memberPromote(request: Etcdserverpb_MemberPromoteRequest) async throws -> Etcdserverpb_MemberPromoteResponse {
        var answer = Etcdserverpb_MemberPromoteResponse()
        answer.header = header
        answer.members = try await core.promote(request.id).map(\.proto)
        return answer
    }

    // MARK: Helpers

    private var header: Etcdserverpb_ResponseHeader {
        // etcd's cluster answers carry no revision.
        core.header(revision: 0)
    }

    private func change(_ type: ConfChange.ChangeType, _ member: ClusterMember) async throws -> [ClusterMember] {
        do {
            return try await core.driver.changeMembership(type, member: member)
        } catch {
            throw error.rpcError
        }
    }

    /// Members (this one included) whose stream has been up for a health interval.
    private func connectedCount(_ voters: [ClusterMember]) -> Int {
        let since = ContinuousClock.now - Self.healthInterval
        return voters.filter { member in
            if member.id == core.identity.memberID { return true }
            guard let active = core.transport.activeSince(member.id) else { return false }
            return active <= since
        }.count
    }

    private func connectedToAll(_ voters: [ClusterMember]) -> Bool {
        connectedCount(voters) == voters.count
    }

    /// etcd's URL check for member add/update: absolute http(s) URLs with a host and port.
    static func checkURLs(_ urls: [String]) throws {
        for url in urls {
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
                  components.host?.isEmpty == false, components.port != nil, components.path.isEmpty
            else { throw ServerError.memberBadURLs.rpcError }
        }
        if urls.isEmpty { throw ServerError.memberBadURLs.rpcError }
    }
}

extension ServerCore {
    /// Promotes a learner. Only the leader can tell whether it has caught up, so a follower
    /// hands the request to the leader.
    func promote(_ id: UInt64) async throws -> [ClusterMember] {
        guard let member = members.member(id) else { throw ServerError.memberNotFound.rpcError }
        guard member.isLearner else { throw ServerError.memberNotLearner.rpcError }
        let status = driver.raftStatus
        if !status.isLeader {
            guard status.leader != 0 else { throw ServerError.noLeader.rpcError }
            var request = Etcdserverpb_MemberPromoteRequest()
            request.id = id
            do {
                let bytes = try await transport.request(.memberPromote, body: try request.serializedBytes(),
                                                        to: status.leader)
                return try Etcdserverpb_MemberPromoteResponse(serializedBytes: bytes).members.map(ClusterMember.init)
            } catch {
                throw error.rpcError
            }
        }
        if let error = await driver.learnerReadiness(id) { throw error.rpcError }
        if configuration.strictReconfigCheck {
            let voters = members.votingMembers
            // The learner counts as a started member of the future quorum.
            if voters.filter(\.isStarted).count + 1 < (voters.count + 1) / 2 + 1 {
                throw ServerError.notEnoughStarted.rpcError
            }
        }
        var promoted = member
        promoted.isLearner = false
        do {
            return try await driver.changeMembership(.addNode, member: promoted)
        } catch {
            throw error.rpcError
        }
    }

    /// A keep-alive, answered by the leader's lessor (forwarded there from a follower).
    func keepAlive(_ id: Int64) async throws -> Int64 {
        let status = driver.raftStatus
        if status.isLeader {
            do {
                // An unknown lease answers TTL 0, as etcd does.
                guard let renewed = try lessor.renew(id: id) else { return 0 }
                if renewed.resetCheckpoint {
                    var checkpoint = Etcdserverpb_LeaseCheckpointRequest()
                    checkpoint.checkpoints = [.with { $0.id = id; $0.remainingTtl = 0 }]
                    Task { [driver] in _ = try? await driver.propose(.leaseCheckpoint(checkpoint)) }
                }
                return renewed.ttl
            } catch {
                throw error.rpcError
            }
        }
        guard status.leader != 0 else { throw ServerError.noLeader.rpcError }
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = id
        do {
            let bytes = try await transport.request(.leaseKeepAlive, body: try request.serializedBytes(), to: status.leader)
            return try Etcdserverpb_LeaseKeepAliveResponse(serializedBytes: bytes).ttl
        } catch {
            throw error.rpcError
        }
    }

    /// Remaining TTL as the leader's lessor counts it (the only one with running deadlines).
    func timeToLive(_ request: Etcdserverpb_LeaseTimeToLiveRequest) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        let status = driver.raftStatus
        if !status.isLeader {
            guard status.leader != 0 else { throw ServerError.noLeader.rpcError }
            do {
                let bytes = try await transport.request(.leaseTimeToLive, body: try request.serializedBytes(),
                                                        to: status.leader)
                var answer = try Etcdserverpb_LeaseTimeToLiveResponse(serializedBytes: bytes)
                answer.header = header(revision: readViews.current().revision)
                return answer
            } catch {
                throw error.rpcError
            }
        }
        var answer = Etcdserverpb_LeaseTimeToLiveResponse()
        answer.header = header(revision: readViews.current().revision)
        answer.id = request.id
        // etcd answers an unknown lease with TTL -1 (etcdctl prints "already expired").
        guard let lease = lessor.timeToLive(id: request.id) else {
            answer.ttl = -1
            return answer
        }
        answer.ttl = lease.remaining
        answer.grantedTtl = lease.ttl
        if request.keys { answer.keys = lease.keys.map { Data($0) } }
        return answer
    }
}

extension ServerCore: PeerTransportDelegate {
    func peerMessagesReceived(_ messages: [Message]) { driver.receive(messages) }

    func peerUnreachable(_ id: UInt64) { driver.reportUnreachable(id) }

    func peerSnapshotSent(to id: UInt64, status: SnapshotStatus) { driver.reportSnapshot(to: id, status: status) }

    func peerSnapshotReceived(_ message: Message, path: String) async -> String? {
        await driver.snapshotArrived(message, path: path)
    }

    func peerSaysRemoved() {
        logger.warning("etcdserver: the member has been permanently removed from the cluster")
        removedFromCluster()
    }

    func peerRequest(kind: PeerRequestKind, body: [UInt8]) async -> Result<[UInt8], ServerError> {
        do {
            switch kind {
            case .memberList:
                var answer = Etcdserverpb_MemberListResponse()
                answer.header = header(revision: 0)
                answer.members = members.all.map(\.proto)
                return .success(try answer.serializedBytes())
            case .leaseKeepAlive:
                let request = try Etcdserverpb_LeaseKeepAliveRequest(serializedBytes: body)
                guard driver.raftStatus.isLeader else { return .failure(.notLeader) }
                var answer = Etcdserverpb_LeaseKeepAliveResponse()
                answer.id = request.id
                answer.ttl = try await keepAlive(request.id)
                return .success(try answer.serializedBytes())
            case .leaseTimeToLive:
                let request = try Etcdserverpb_LeaseTimeToLiveRequest(serializedBytes: body)
                guard driver.raftStatus.isLeader else { return .failure(.notLeader) }
                return .success(try await timeToLive(request).serializedBytes())
            case .memberPromote:
                let request = try Etcdserverpb_MemberPromoteRequest(serializedBytes: body)
                guard driver.raftStatus.isLeader else { return .failure(.notLeader) }
                var answer = Etcdserverpb_MemberPromoteResponse()
                answer.members = try await promote(request.id).map(\.proto)
                return .success(try answer.serializedBytes())
            case .hashKV:
                let request = try Etcdserverpb_HashKVRequest(serializedBytes: body)
                let hashed = try readViews.current().hashKV(revision: request.revision)
                var answer = Etcdserverpb_HashKVResponse()
                answer.header = header(revision: hashed.revision)
                answer.hash = hashed.hash
                answer.compactRevision = hashed.compactRevision
                return .success(try answer.serializedBytes())
            }
        } catch let error as ServerError {
            return .failure(error)
        } catch let error as MVCCError {
            return .failure(ServerError(error))
        } catch let error as RPCError {
            return .failure(ServerError(error.code, error.message))
        } catch {
            return .failure(ServerError(.internalError, "etcdserver: \(error)"))
        }
    }
}
