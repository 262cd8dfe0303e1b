import Crypto
import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC

/// etcd's Maintenance service.
struct MaintenanceService {
    let core: ServerCore

    /// etcd streams snapshots in 32 KiB chunks.
    static let snapshotChunkBytes = 32 << 10

    func alarm(request: Etcdserverpb_AlarmRequest) async throws -> Etcdserverpb_AlarmResponse {
        // etcd answers alarm requests without a header.
        if request.action == .get {
            var answer = Etcdserverpb_AlarmResponse()
            answer.alarms = core.alarms.all.filter { request.alarm == .none || $0.alarm == request.alarm }
            return answer
        }
        return try await core.propose(.alarm(request)) { result in
            if case .alarm(let response) = result { response } else { nil }
        }
    }

    func status(request: Etcdserverpb_StatusRequest) async throws -> Etcdserverpb_StatusResponse {
        let raft = core.driver.raftStatus
        let view = core.readViews.current()
        var answer = Etcdserverpb_StatusResponse()
        answer.header = core.header(revision: view.revision)
        answer.version = ServerCore.serverVersion
        answer.dbSize = core.databaseSize
        answer.dbSizeInUse = view.historyBytes
        answer.leader = raft.leader
        answer.raftIndex = raft.commitIndex
        answer.raftTerm = raft.term
        answer.raftAppliedIndex = raft.appliedIndex
        answer.errors = core.alarms.all.map(Self.describe)
        answer.isLearner = core.members.member(core.identity.memberID)?.isLearner ?? false
        return answer
    }

    /// An alarm as etcd's Status lists it (the protobuf text form of `AlarmMember`).
    static func describe(_ alarm: Etcdserverpb_AlarmMember) -> String {
        "memberID:\(alarm.memberID) alarm:\(alarmName(alarm.alarm)) "
    }

    static func alarmName(_ alarm: Etcdserverpb_AlarmType) -> String {
        switch alarm {
        case .none: "NONE"
        case .nospace: "NOSPACE"
        case .corrupt: "CORRUPT"
        case .UNRECOGNIZED(let value): "\(value)"
        }
    }

    func defragment(request: Etcdserverpb_DefragmentRequest) async throws -> Etcdserverpb_DefragmentResponse {
        // Our on-disk state is the newest snapshot plus the WAL after it: a fresh snapshot holds
        // only what compaction kept, and lets the WAL segments before it go.
        do {
            _ = try await core.driver.snapshotNow(compactingWAL: true)
        } catch {
            throw error.rpcError
        }
        var answer = Etcdserverpb_DefragmentResponse()
        answer.header = core.header(revision: core.readViews.current().revision)
        return answer
    }

    func hash(request: Etcdserverpb_HashRequest) async throws -> Etcdserverpb_HashResponse {
        let view = core.readViews.current()
        var answer = Etcdserverpb_HashResponse()
        answer.header = core.header(revision: view.revision)
        answer.hash = view.hash()
        return answer
    }

    func hashKV(request: Etcdserverpb_HashKVRequest) async throws -> Etcdserverpb_HashKVResponse {
        let view = core.readViews.current()
        do {
            let hashed = try view.hashKV(revision: request.revision)
            var answer = Etcdserverpb_HashKVResponse()
            answer.header = core.header(revision: hashed.revision)
            answer.hash = hashed.hash
            answer.compactRevision = hashed.compactRevision
            return answer
        } catch {
            throw error.rpcError
        }
    }

    /// Streams a fresh SQLite snapshot of the applied state, followed (as etcd does) by the
    /// SHA-256 of its bytes, which `snapshot restore` checks.
    func snapshot(request: Etcdserverpb_SnapshotRequest, response: GRPCResponseWriter<Etcdserverpb_SnapshotResponse>) async throws {
        let path: String
        do {
            path = try await core.driver.snapshotNow()
        } catch {
            throw error.rpcError
        }
        // Opened at once: a later snapshot may prune this file, and the open handle keeps it readable.
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw RPCError(code: .internalError, message: "etcdserver: cannot open snapshot \(path)")
        }
        defer { try? file.close() }
        let size = Int((try? file.seekToEnd()) ?? 0)
        try file.seek(toOffset: 0)
        var hasher = SHA256()
        var sent = 0
        let header = core.header(revision: core.readViews.current().revision)
        while sent < size {
            let chunk = try file.read(upToCount: Self.snapshotChunkBytes) ?? Data()
            guard !chunk.isEmpty else { break }
            hasher.update(data: chunk)
            sent += chunk.count
            var message = Etcdserverpb_SnapshotResponse()
            message.header = header
            message.blob = chunk
            message.remainingBytes = UInt64(size - sent + SHA256.byteCount)
            try await response.write(message)
        }
        var last = Etcdserverpb_SnapshotResponse()
        last.header = header
        last.blob = Data(hasher.finalize())
        last.remainingBytes = 0
        try await response.write(last)
    }

    func moveLeader(request: Etcdserverpb_MoveLeaderRequest) async throws -> Etcdserverpb_MoveLeaderResponse {
        let raft = core.driver.raftStatus
        guard raft.isLeader else { throw ServerError.notLeader.rpcError }
        do {
            try await core.driver.transferLeadership(to: request.targetID)
        } catch {
            throw error.rpcError
        }
        var answer = Etcdserverpb_MoveLeaderResponse()
        answer.header = core.header(revision: core.readViews.current().revision)
        return answer
    }
}
