import EtcdProto
import Foundation

/// Leader election as clientv3/concurrency's `Election`, interoperable with it and with
/// `etcdctl elect`: candidates queue under a prefix like ``EtcdMutex`` waiters, and the leader's key
/// value is its proclamation.
public struct EtcdElection: Sendable {
    /// The session the candidate's key is attached to.
    public let session: EtcdSession
    /// The election's prefix, ending in "/".
    public let prefix: String

    /// An election named `name` (a "/" is appended, as clientv3 does).
    public init(session: EtcdSession, name: String) {
        self.session = session
        prefix = name + "/"
    }

    /// The candidate's key.
    public var key: String { session.ownKey(under: prefix) }

    /// Becomes a candidate with `value` and returns once elected (cancel the task to give up).
    /// Returns the creation revision of the leader key, the term's fencing token.
    @discardableResult
    public func campaign(_ value: some EtcdBytesConvertible) async throws -> Int64 {
        let client = session.client
        let response = try await client.txn(Txn(
            if: [.createRevision(key, .equal, 0)],
            then: [.put(key, value, [.lease(session.leaseID)])],
            else: [.get(key)]))
        var revision = response.header.revision
        if !response.succeeded, let existing = response.responses[0].responseRange.kvs.first {
            revision = existing.createRevision
            if existing.value != value.etcdBytes { try await proclaim(value, leaderRevision: revision) }
        }
        do {
            try await client.waitForDeletes(prefix: prefix, maxCreateRevision: revision - 1)
            return revision
        } catch {
            _ = try? await client.delete(key)
            throw error
        }
    }

    /// Changes the leader's value without a new election; fails with `.notLeader` when this
    /// candidate's term (`leaderRevision`) is over.
    public func proclaim(_ value: some EtcdBytesConvertible, leaderRevision: Int64) async throws {
        let response = try await session.client.txn(Txn(
            if: [.createRevision(key, .equal, leaderRevision)],
            then: [.put(key, value, [.lease(session.leaseID)])]))
        guard response.succeeded else { throw EtcdError.etcd(.notLeader) }
    }

    /// Gives up leadership (or candidacy).
    public func resign() async throws {
        try await session.client.delete(key)
    }

    /// The current leader's key and value, or nil when there is none.
    public func leader() async throws -> Mvccpb_KeyValue? {
        try await session.client.get(prefix, .prefix, .sort(.create, .ascend), .limit(1)).kvs.first
    }
}
