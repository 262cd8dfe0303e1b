import EtcdClient
import FaultHarness
import Foundation
import Synchronization
import Testing
import TestSupport

/// The lease workload of the fault harness: clients grant leases, attach a key to each, and then
/// keep the lease alive for a while, revoke it, or let it expire, while readers read the keys and
/// members are killed, paused, all killed at once and replaced. Then:
///
/// - a live lease's key stays: a read that returned before a renewal's call time plus the TTL
///   it answered finds the key (the lease cannot expire earlier: a new leader only extends leases);
/// - a revoked lease's key is gone for every read called after the revoke returned;
/// - an expired lease's key is gone: for every read called after a keep-alive answered that the
///   lease no longer exists, and, once the faults stop, for every key within 30 s.
///
/// Against Debian's etcd and ours; `FAULT_SECONDS` and `FAULT_SEED` as for the registers.
@Suite(.serialized) struct LeasesUnderFaultsTests {
    @Test(arguments: ["reference", "ours"])
    func leaseKeysLiveWithTheirLeasesThroughFaults(server: String) async throws {
        let executable = server == "ours" ? try RegisterUnderKillsTests.ours() : EtcdMember.referenceExecutable
        try await TemporaryDirectory.with(prefix: "fault-lease-\(server)") { directory in
            let cluster = try await EtcdCluster.start(in: directory, size: 3, executable: executable,
                                                      extraArguments: RegisterUnderKillsTests.snapshotEvery)
            let history = LeaseHistory()
            let clients = try (0..<6).map { try RegisterHarness.client(cluster, startingAt: $0 % 3) }
            let workers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<4 {
                        group.addTask { await Self.leaseWork(client: clients[index], index: index, history: history) }
                    }
                    for index in 4..<6 {
                        group.addTask { await Self.read(client: clients[index], seed: UInt64(index), history: history) }
                    }
                }
            }
            var nemesis = try Nemesis(kind: .killsAndPauses, cluster: cluster, lab: nil, directory: directory,
                                      executable: executable, extraArguments: RegisterUnderKillsTests.snapshotEvery,
                                      environment: [:], seed: RegisterUnderKillsTests.seed)
            let deadline = ContinuousClock.now + .seconds(max(RegisterUnderKillsTests.seconds, 20))
            while ContinuousClock.now < deadline - .seconds(3) { try await nemesis.strike() }
            history.stop()
            await workers.value
            let leftovers = await Self.keysLeft(asking: nemesis.observer, within: .seconds(30))
            await nemesis.observer.close()
            for client in clients { await client.close() }
            await nemesis.cluster.stop()

            let violations = history.violations() + leftovers
            print("lease run (\(server)): \(history.summary), seed \(RegisterUnderKillsTests.seed), faults: \(nemesis.faults.joined(separator: ", "))")
            #expect(history.leasesWithKeys > 10, "too few leases got their key to say anything")
            #expect(violations.isEmpty, "\(server), seed \(RegisterUnderKillsTests.seed): \(violations.prefix(5))")
        }
    }

    /// One client's loop: grant a lease (TTL 3 s), put a key on it, then keep it alive for 1 to 6 s,
    /// revoke it after up to 3 s, or leave it to expire; then the next lease.
    static func leaseWork(client: EtcdClient, index: Int, history: LeaseHistory) async {
        var random = SeededGenerator(seed: RegisterUnderKillsTests.seed &+ UInt64(index) &* 7919)
        var count = 0
        while !history.isStopped {
            count += 1
            let key = "lease/c\(index)-\(count)"
            let granted = history.now()
            guard let grant = try? await client.grantLease(ttl: 3) else { continue }
            let lease = grant.id
            history.granted(lease, key: key, invoked: granted, ttl: grant.ttl)
            let putInvoked = history.now()
            guard (try? await client.put(key, "held", .lease(lease))) != nil else { continue }
            history.put(lease, invoked: putInvoked, returned: history.now())
            switch random.next() % 3 {
            case 0:
                let until = ContinuousClock.now + .milliseconds(1000 + Int(random.next() % 5000))
                while ContinuousClock.now < until && !history.isStopped {
                    await renew(lease, client: client, history: history)
                    try? await Task.sleep(for: .milliseconds(500))
                }
            case 1:
                try? await Task.sleep(for: .milliseconds(Int(random.next() % 3000)))
                let invoked = history.now()
                if (try? await client.revokeLease(lease)) != nil {
                    history.revoked(lease, invoked: invoked, returned: history.now())
                }
            default:
                try? await Task.sleep(for: .milliseconds(Int(random.next() % 1000)))
            }
        }
    }

    /// One keep-alive round trip on a stream of its own, so that its call time is known: the
    /// lease then lives at least until that time plus the TTL answered.
    static func renew(_ lease: Int64, client: EtcdClient, history: LeaseHistory) async {
        let invoked = history.now()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await response in client.keepAlive(leaseID: lease) {
                        history.renewed(lease, invoked: invoked, ttl: response.ttl, returned: history.now())
                        return
                    }
                } catch let error as EtcdError where error.code == .leaseNotFound {
                    history.renewed(lease, invoked: invoked, ttl: 0, returned: history.now())
                } catch {
                    // Unavailable: says nothing about the lease.
                }
            }
            // The stream retries through a fault for as long as it lasts; a renewal is given 3 s.
            group.addTask { try? await Task.sleep(for: .seconds(3)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// A reader's loop: linearizable reads of keys put recently.
    static func read(client: EtcdClient, seed: UInt64, history: LeaseHistory) async {
        var random = SeededGenerator(seed: RegisterUnderKillsTests.seed &+ seed)
        while !history.isStopped {
            guard let key = history.recentKey(random.next()) else {
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            let invoked = history.now()
            if let response = try? await client.get(key) {
                history.read(key, present: !response.kvs.isEmpty, invoked: invoked, returned: history.now())
            }
        }
    }

    /// The lease keys still there after `limit` (every lease was left to expire or revoked).
    static func keysLeft(asking client: EtcdClient, within limit: Duration) async -> [String] {
        let deadline = ContinuousClock.now + limit
        var left: [String] = ["(no read succeeded)"]
        while ContinuousClock.now < deadline {
            if let response = try? await client.get("lease/", .prefix, .keysOnly) {
                left = response.kvs.map { String(decoding: $0.key, as: UTF8.self) }
                if left.isEmpty { return [] }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return ["keys of expired or revoked leases still there \(limit) after the faults stopped: \(left.prefix(10))"]
    }
}

/// What the lease clients and readers did, with times in nanoseconds from one clock.
final class LeaseHistory: Sendable {
    struct Lease {
        var key: String
        /// (call time, TTL answered in seconds) of the grant and of every renewal.
        var renewals: [(invoked: UInt64, ttl: Int64)] = []
        var putInvoked: UInt64?
        var putReturned: UInt64?
        var revokeInvoked: UInt64?
        var revokeReturned: UInt64?
        /// When a keep-alive first answered that the lease no longer exists.
        var goneReturned: UInt64?
    }

    struct Read {
        var key: String
        var present: Bool
        var invoked: UInt64
        var returned: UInt64
    }

    private struct State {
        var leases: [Int64: Lease] = [:]
        var leaseOfKey: [String: Int64] = [:]
        var recentKeys: [String] = []
        var reads: [Read] = []
    }

    private let start = ContinuousClock.now
    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)

    func now() -> UInt64 { start.nanosecondsToNow() }

    func stop() { stopped.store(true, ordering: .relaxed) }
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    func granted(_ lease: Int64, key: String, invoked: UInt64, ttl: Int64) {
        state.withLock {
            $0.leases[lease] = Lease(key: key, renewals: [(invoked, ttl)])
            $0.leaseOfKey[key] = lease
        }
    }

    func put(_ lease: Int64, invoked: UInt64, returned: UInt64) {
        state.withLock {
            $0.leases[lease]?.putInvoked = invoked
            $0.leases[lease]?.putReturned = returned
            if let key = $0.leases[lease]?.key {
                $0.recentKeys.append(key)
                if $0.recentKeys.count > 16 { $0.recentKeys.removeFirst() }
            }
        }
    }

    func renewed(_ lease: Int64, invoked: UInt64, ttl: Int64, returned: UInt64) {
        state.withLock {
            if ttl > 0 {
                $0.leases[lease]?.renewals.append((invoked, ttl))
            } else if $0.leases[lease]?.goneReturned == nil {
                $0.leases[lease]?.goneReturned = returned
            }
        }
    }

    func revoked(_ lease: Int64, invoked: UInt64, returned: UInt64) {
        state.withLock {
            $0.leases[lease]?.revokeInvoked = invoked
            $0.leases[lease]?.revokeReturned = returned
        }
    }

    func read(_ key: String, present: Bool, invoked: UInt64, returned: UInt64) {
        state.withLock { $0.reads.append(Read(key: key, present: present, invoked: invoked, returned: returned)) }
    }

    func recentKey(_ random: UInt64) -> String? {
        state.withLock { $0.recentKeys.isEmpty ? nil : $0.recentKeys[Int(random % UInt64($0.recentKeys.count))] }
    }

    var leasesWithKeys: Int { state.withLock { $0.leases.values.filter { $0.putReturned != nil }.count } }

    var summary: String {
        state.withLock { state in
            let leases = state.leases.values
            return "\(leases.count) leases (\(leases.filter { $0.putReturned != nil }.count) with their key, "
                + "\(leases.reduce(0) { $0 + $1.renewals.count - 1 }) renewals, "
                + "\(leases.filter { $0.revokeReturned != nil }.count) revoked, "
                + "\(leases.filter { $0.goneReturned != nil }.count) seen expired), \(state.reads.count) reads "
                + "(\(state.reads.filter(\.present).count) found the key)"
        }
    }

    /// Every read that contradicts what the lease calls returned (see the suite's documentation).
    func violations() -> [String] {
        state.withLock { state in
            var found: [String] = []
            for read in state.reads {
                guard let id = state.leaseOfKey[read.key], let lease = state.leases[id],
                      let putReturned = lease.putReturned else { continue }
                if read.present {
                    if let revoked = lease.revokeReturned, revoked < read.invoked {
                        found.append("\(read.key) was read at \(read.invoked)..\(read.returned) ns after its lease was revoked at \(revoked)")
                    }
                    if let gone = lease.goneReturned, gone < read.invoked {
                        found.append("\(read.key) was read at \(read.invoked)..\(read.returned) ns after a keep-alive found its lease gone at \(gone)")
                    }
                } else if putReturned < read.invoked {
                    // Absent although some renewal promised the lease would still live.
                    let revokeStarted = lease.revokeInvoked.map { $0 < read.returned } ?? false
                    if !revokeStarted, let promise = lease.renewals.first(where: {
                        read.returned < $0.invoked + UInt64($0.ttl) * 1_000_000_000
                    }) {
                        found.append("\(read.key) was missing at \(read.invoked)..\(read.returned) ns although its lease was renewed at \(promise.invoked) for \(promise.ttl) s")
                    }
                }
            }
            return found
        }
    }
}
