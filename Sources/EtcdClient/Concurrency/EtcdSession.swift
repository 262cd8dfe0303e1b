import EtcdProto
import Synchronization

/// A lease kept alive for as long as the session is open: the liveness that locks and elections
/// hang on, as clientv3/concurrency's `Session`.
///
/// Keys written with ``leaseID`` vanish when the session closes or when this process dies (the lease
/// then expires after its TTL), which is what releases a lock held by a crashed holder.
public final class EtcdSession: Sendable {
    /// The client the session uses.
    public let client: EtcdClient
    /// The session's lease.
    public let leaseID: Int64
    /// The lease's TTL in seconds.
    public let ttl: Int64
    private let keeper: Task<Void, Never>
    private let lost = LeaseLoss()

    /// Grants a lease of `ttl` seconds and keeps it alive in the background.
    public init(client: EtcdClient, ttl: Int64 = 60) async throws {
        self.client = client
        self.ttl = ttl
        let leaseID = try await client.grantLease(ttl: ttl).id
        self.leaseID = leaseID
        let lost = self.lost
        keeper = Task {
            do {
                for try await _ in client.keepAlive(leaseID: leaseID) {}
            } catch {
                lost.reason.withLock { $0 = error }
            }
        }
    }

    /// Why the lease was lost (expired or revoked while the session was open), or nil if it was not.
    public var lossReason: (any Error)? { lost.reason.withLock { $0 } }

    /// Stops the keep-alive and revokes the lease, deleting every key attached to it.
    public func close() async throws {
        keeper.cancel()
        await keeper.value
        do {
            try await client.revokeLease(leaseID)
        } catch let error as EtcdError where error.code == .leaseNotFound {
            // Already expired: nothing is left to release.
        }
    }

    /// The key this session owns under `prefix`: the prefix and the lease id in hex, as clientv3 names it.
    func ownKey(under prefix: String) -> String {
        prefix + String(UInt64(bitPattern: leaseID), radix: 16)
    }
}

extension EtcdClient {
    /// Waits until every key under `prefix` created before `maxCreateRevision`+1 is deleted: the
    /// queue in front of a lock waiter or election candidate.
    func waitForDeletes(prefix: String, maxCreateRevision: Int64) async throws {
        while true {
            let newest = try await get(
                prefix, .prefix, .maxCreateRevision(maxCreateRevision), .sort(.create, .descend), .limit(1))
            guard let blocker = newest.kvs.first else { return }
            try await waitForDeletion(of: blocker.key, after: newest.header.revision)
        }
    }

    private func waitForDeletion(of key: some EtcdBytesConvertible, after revision: Int64) async throws {
        for try await response in watch(key, .startRevision(revision + 1), .noPut) {
            if response.events.contains(where: { $0.type == .delete }) { return }
        }
    }
}

/// Why a session's lease was lost, shared between the session and its keep-alive task.
private final class LeaseLoss: Sendable {
    let reason = Mutex<(any Error)?>(nil)
}
