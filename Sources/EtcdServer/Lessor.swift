import BTreeStore
import SnapshotFile
import Synchronization

/// The leases: which exist, their TTLs and deadlines, and which keys each one holds (etcd's
/// `lease.lessor`).
///
/// Grants, revocations and checkpoints change it only when applied from the Raft log, on the
/// apply thread; renewals (keep-alives) and queries come from the gRPC handlers. Deadlines are
/// kept only while this member is the leader (the *primary*): a follower's leases never expire
/// by themselves, and a new leader restarts every lease from its last checkpointed remaining TTL,
/// so a leader change or a restart neither cuts a lease short nor lets it live forever.
package final class Lessor: Sendable {
    /// etcd's `MaxLeaseTTL`.
    package static let maximumTTL: Int64 = 9_000_000_000

    struct Lease {
        var ttl: Int64
        /// The TTL left at the last checkpoint (or the TTL): where a new primary restarts it.
        var remainingTTL: Int64
        /// When it expires; nil while this member is not the primary.
        var deadline: ContinuousClock.Instant?
        var keys: Set<[UInt8]> = []
        /// When the primary last asked Raft to revoke it (expired), to avoid asking every tick.
        var revokeRequested: ContinuousClock.Instant?
    }

    struct State {
        var leases: [Int64: Lease] = [:]
        var isPrimary = false
    }

    /// The shortest TTL granted: 1.5 election timeouts, in whole seconds (etcd's rule).
    package let minimumTTL: Int64
    private let state = Mutex(State())

    package init(minimumTTL: Int64) {
        self.minimumTTL = minimumTTL
    }

    // MARK: Applied from the log

    /// Applies a grant. - Returns: the TTL granted (at least the minimum).
    package func grant(id: Int64, ttl: Int64) throws(ServerError) -> Int64 {
        if ttl > Self.maximumTTL { throw .leaseTTLTooLarge }
        let granted = max(ttl, minimumTTL)
        return try state.withLock { state throws(ServerError) in
            if state.leases[id] != nil { throw .leaseExists }
            state.leases[id] = Lease(ttl: granted, remainingTTL: granted,
                                     deadline: state.isPrimary ? .now + .seconds(granted) : nil)
            return granted
        }
    }

    /// Applies a revocation. - Returns: the keys to delete with it, in key order.
    package func revoke(id: Int64) throws(ServerError) -> [[UInt8]] {
        guard let lease = state.withLock({ $0.leases.removeValue(forKey: id) }) else { throw .leaseNotFound }
        return lease.keys.sorted { [UInt8].compare($0, $1) < 0 }
    }

    /// Applies a checkpoint of remaining TTLs; 0 stands for the full TTL (as in etcd, whose
    /// renewals checkpoint 0 to undo an earlier checkpoint).
    package func checkpoint(_ remaining: [(id: Int64, remainingTTL: Int64)]) {
        state.withLock { state in
            for (id, ttl) in remaining where state.leases[id] != nil {
                state.leases[id]!.remainingTTL = ttl > 0 ? min(ttl, state.leases[id]!.ttl) : state.leases[id]!.ttl
            }
        }
    }

    /// Whether a lease exists (puts naming an unknown lease fail).
    package func exists(_ id: Int64) -> Bool {
        state.withLock { $0.leases[id] != nil }
    }

    /// Follows the keys attached to and detached from leases by one applied entry.
    package func track(_ events: [Event]) {
        state.withLock { state in
            for event in events {
                let previous = event.prevKV?.lease ?? 0
                let current = event.type == .put ? event.kv.lease : 0
                guard previous != current else { continue }
                if previous != 0 { state.leases[previous]?.keys.remove(event.kv.key) }
                if current != 0 { state.leases[current]?.keys.insert(event.kv.key) }
            }
        }
    }

    // MARK: Leadership

    /// This member became the leader: every lease restarts from its remaining TTL, plus
    /// `extension` (etcd adds an election timeout), so that no lease ends before the deadline a
    /// previous leader promised with a renewal it did not live to checkpoint, nor before the
    /// seconds a checkpoint truncated away.
    package func promote(extension extra: Duration) {
        state.withLock { state in
            state.isPrimary = true
            let now = ContinuousClock.now
            for id in state.leases.keys {
                state.leases[id]!.deadline = now + extra + .seconds(state.leases[id]!.remainingTTL)
                state.leases[id]!.revokeRequested = nil
            }
        }
    }

    /// This member lost the leadership: its leases stop expiring here.
    package func demote() {
        state.withLock { state in
            state.isPrimary = false
            for id in state.leases.keys { state.leases[id]!.deadline = nil }
        }
    }

    package var isPrimary: Bool { state.withLock { $0.isPrimary } }

    // MARK: Requests

    /// A keep-alive. - Returns: the TTL, or nil if the lease does not exist or has expired (its
    /// revocation is under way: renewing it would promise a life the revocation then cuts short);
    /// and whether a checkpoint had shortened the lease's remaining TTL, which the caller must then
    /// reset cluster-wide (a checkpoint of the full TTL), or a later leader would restart the
    /// renewed lease from the stale, shorter value.
    /// - Throws: `notLeader` on a follower (keep-alives are the leader's business).
    package func renew(id: Int64) throws(ServerError) -> (ttl: Int64, resetCheckpoint: Bool)? {
        try state.withLock { state throws(ServerError) in
            guard state.isPrimary else { throw .notLeader }
            guard let lease = state.leases[id] else { return nil }
            let now = ContinuousClock.now
            if let deadline = lease.deadline, deadline <= now { return nil }
            state.leases[id]!.deadline = now + .seconds(lease.ttl)
            let shortened = lease.remainingTTL < lease.ttl
            state.leases[id]!.remainingTTL = lease.ttl
            return (lease.ttl, shortened)
        }
    }

    /// A lease's granted TTL, remaining seconds (etcd truncates) and keys.
    package func timeToLive(id: Int64) -> (ttl: Int64, remaining: Int64, keys: [[UInt8]])? {
        state.withLock { state in
            guard let lease = state.leases[id] else { return nil }
            return (lease.ttl, Self.remaining(lease), lease.keys.sorted { [UInt8].compare($0, $1) < 0 })
        }
    }

    /// How many leases exist.
    package var count: Int { state.withLock { $0.leases.count } }

    /// Every lease id, ascending.
    package func ids() -> [Int64] {
        state.withLock { $0.leases.keys.sorted() }
    }

    /// Expired leases not asked to be revoked in the last `retryAfter` (the primary's duty).
    package func expired(retryAfter: Duration = .seconds(3), limit: Int = 1000) -> [Int64] {
        state.withLock { state in
            guard state.isPrimary else { return [] }
            let now = ContinuousClock.now
            var expired: [Int64] = []
            for (id, lease) in state.leases where expired.count < limit {
                guard let deadline = lease.deadline, deadline <= now else { continue }
                if let asked = lease.revokeRequested, now - asked < retryAfter { continue }
                state.leases[id]!.revokeRequested = now
                expired.append(id)
            }
            return expired
        }
    }

    /// Remaining TTLs of the leases worth checkpointing (those with a deadline).
    package func remainingTTLs(limit: Int = 1000) -> [(id: Int64, remainingTTL: Int64)] {
        state.withLock { state in
            var remaining: [(id: Int64, remainingTTL: Int64)] = []
            for (id, lease) in state.leases where lease.deadline != nil && remaining.count < limit {
                let left = max(Self.remaining(lease), 1)
                if left != lease.remainingTTL { remaining.append((id, left)) }
            }
            return remaining
        }
    }

    private static func remaining(_ lease: Lease) -> Int64 {
        guard let deadline = lease.deadline else { return lease.remainingTTL }
        let left = deadline - .now
        return max(0, left.components.seconds)
    }

    // MARK: Snapshots

    /// The leases as a snapshot records them, remaining TTLs as of now.
    package func snapshot() -> [SnapshotLease] {
        state.withLock { state in
            state.leases.sorted { $0.key < $1.key }.map { id, lease in
                SnapshotLease(id: id, ttl: lease.ttl, remainingTTL: max(Self.remaining(lease), 1))
            }
        }
    }

    /// Replaces every lease with a snapshot's, re-attaching the leased keys of the restored store.
    package func restore(_ leases: [SnapshotLease], leasedKeys: [(key: [UInt8], lease: Int64)]) {
        state.withLock { state in
            state.leases = [:]
            for lease in leases {
                let remaining = lease.remainingTTL > 0 ? min(lease.remainingTTL, lease.ttl) : lease.ttl
                state.leases[lease.id] = Lease(ttl: lease.ttl, remainingTTL: remaining,
                                               deadline: state.isPrimary ? .now + .seconds(remaining) : nil)
            }
            for (key, id) in leasedKeys { state.leases[id]?.keys.insert(key) }
        }
    }
}
