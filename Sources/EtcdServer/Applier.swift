import BTreeStore
import EtcdProto
import Foundation
import Synchronization

/// What applying one request produced: the response for the caller waiting on it, if any.
package enum ApplyResult: Sendable {
    case put(Etcdserverpb_PutResponse)
    case deleteRange(Etcdserverpb_DeleteRangeResponse)
    case txn(Etcdserverpb_TxnResponse)
    case compaction(Etcdserverpb_CompactionResponse)
    case leaseGrant(Etcdserverpb_LeaseGrantResponse)
    case leaseRevoke(Etcdserverpb_LeaseRevokeResponse)
    case leaseCheckpoint
    case alarm(Etcdserverpb_AlarmResponse)
    /// A membership change: the members after it.
    case members([ClusterMember])
    /// A member's published attributes or new peer URLs were recorded.
    case memberUpdated
    case failure(ServerError)
}

/// The active alarms, readable from any thread (Status, /health, the quota check).
package final class AlarmList: Sendable {
    private let alarms = Mutex<[Etcdserverpb_AlarmMember]>([])

    package var all: [Etcdserverpb_AlarmMember] { alarms.withLock { $0 } }

    package var noSpace: Bool { alarms.withLock { $0.contains { $0.alarm == .nospace } } }

    func activate(_ alarm: Etcdserverpb_AlarmMember) -> Bool {
        alarms.withLock { alarms in
            if alarms.contains(alarm) { return false }
            alarms.append(alarm)
            alarms.sort { ($0.memberID, $0.alarm.rawValue) < ($1.memberID, $1.alarm.rawValue) }
            return true
        }
    }

    func deactivate(_ alarm: Etcdserverpb_AlarmMember) -> Bool {
        alarms.withLock { alarms in
            guard let index = alarms.firstIndex(of: alarm) else { return false }
            alarms.remove(at: index)
            return true
        }
    }

    func replace(with new: [Etcdserverpb_AlarmMember]) {
        alarms.withLock { $0 = new }
    }
}

/// Applies committed requests to the state machine: the MVCC store, the lessor and the alarms
/// (etcd's `applierV3`). Owned by the Raft driver's thread; every member applies the same entries
/// in the same order to the same effect, so nothing here may depend on the clock or on which
/// member applies it.
package final class Applier {
    package let store: MVCCStore
    package let lessor: Lessor
    package let alarms: AlarmList
    package let members: ClusterMembers
    private let identity: MemberIdentity
    /// The current Raft term, for response headers.
    var term: UInt64 = 0

    init(store: MVCCStore, lessor: Lessor, alarms: AlarmList, members: ClusterMembers, identity: MemberIdentity,
         maxTxnOps: Int) {
        self.store = store
        self.lessor = lessor
        self.alarms = alarms
        self.members = members
        self.identity = identity
        configure(store, maxTxnOps: maxTxnOps)
    }

    private func configure(_ store: MVCCStore, maxTxnOps: Int) {
        store.maximumTxnOperations = maxTxnOps
        let lessor = lessor
        store.leaseExists = { lessor.exists($0) }
        store.entryApplied = { lessor.track($0) }
    }

    func header(revision: Int64) -> Etcdserverpb_ResponseHeader {
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = identity.clusterID
        header.memberID = identity.memberID
        header.revision = revision
        header.raftTerm = term
        return header
    }

    /// Applies one request. Errors become `.failure` results: a request that fails here failed
    /// on every member alike, and the log moves on.
    func apply(_ request: InternalRequest) -> ApplyResult {
        do {
            switch request {
            case .put(let put):
                if alarms.noSpace { throw ServerError.noSpace }
                let response = try mvcc { try store.put(PutRequest(put)) }
                return .put(Etcdserverpb_PutResponse(response, header: header(revision: store.currentRevision)))
            case .deleteRange(let delete):
                let response = try mvcc { try store.deleteRange(DeleteRangeRequest(delete)) }
                return .deleteRange(Etcdserverpb_DeleteRangeResponse(
                    response, header: header(revision: store.currentRevision)))
            case .txn(let txn):
                if alarms.noSpace && txn.hasPuts { throw ServerError.noSpace }
                let response = try mvcc { try store.txn(TxnRequest(txn)) }
                return .txn(Etcdserverpb_TxnResponse(response, header: header(revision: response.revision)))
            case .compaction(let compaction):
                let revision = try mvcc { try store.compact(compaction.revision) }
                var response = Etcdserverpb_CompactionResponse()
                response.header = header(revision: revision)
                return .compaction(response)
            case .leaseGrant(let grant):
                if alarms.noSpace { throw ServerError.noSpace }
                var response = Etcdserverpb_LeaseGrantResponse()
                response.ttl = try lessor.grant(id: grant.id, ttl: grant.ttl)
                response.id = grant.id
                response.header = header(revision: store.currentRevision)
                return .leaseGrant(response)
            case .leaseRevoke(let revoke):
                let keys = try lessor.revoke(id: revoke.id)
                if !keys.isEmpty { store.deleteKeys(keys) }
                var response = Etcdserverpb_LeaseRevokeResponse()
                response.header = header(revision: store.currentRevision)
                return .leaseRevoke(response)
            case .leaseCheckpoint(let checkpoint):
                lessor.checkpoint(checkpoint.checkpoints.map { ($0.id, $0.remainingTtl) })
                return .leaseCheckpoint
            case .alarm(let alarm):
                return .alarm(applyAlarm(alarm))
            case .memberAttributes(let member):
                members.setAttributes(id: member.id, name: member.name, clientURLs: member.clientUrls)
                return .memberUpdated
            case .memberPeerURLs(let member):
                guard members.member(member.id) != nil else { throw ServerError.memberNotFound }
                members.setPeerURLs(id: member.id, peerURLs: member.peerUrls)
                return .memberUpdated
            }
        } catch let error as ServerError {
            return .failure(error)
        } catch {
            return .failure(ServerError(.internalError, "etcdserver: \(error)"))
        }
    }

    private func mvcc<Result>(_ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let error as MVCCError {
            throw ServerError(error)
        }
    }

    private func applyAlarm(_ request: Etcdserverpb_AlarmRequest) -> Etcdserverpb_AlarmResponse {
        // etcd answers alarm requests without a header.
        var response = Etcdserverpb_AlarmResponse()
        var member = Etcdserverpb_AlarmMember()
        member.memberID = request.memberID
        member.alarm = request.alarm
        switch request.action {
        case .activate:
            guard request.alarm != .none else { break }
            _ = alarms.activate(member)
            response.alarms = [member]
        case .deactivate:
            if alarms.deactivate(member) { response.alarms = [member] }
        case .get, .UNRECOGNIZED:
            response.alarms = alarms.all.filter { request.alarm == .none || $0.alarm == request.alarm }
        }
        return response
    }
}

/// Who this member is, for response headers and the member list.
package struct MemberIdentity: Sendable, Hashable {
    package var memberID: UInt64
    package var clusterID: UInt64
    package var name: String
    package var peerURLs: [String]
    package var clientURLs: [String]
}
