import EtcdClient
import Foundation
import TestSupport

/// Timings only a cluster has: how long until a new leader serves after the leader is killed,
/// and how long a new member takes to catch up with the others.
enum ClusterTimings {
    /// SIGKILLs the leader and returns the seconds until another member reports a new leader.
    static func electionAfterLeaderKill(_ cluster: EtcdCluster) async throws -> Double {
        let (leader, leaderIndex) = try await currentLeader(cluster.members)
        let survivors = cluster.members.indices.filter { $0 != leaderIndex }.map { cluster.members[$0] }
        let clients = try survivors.map { try EtcdClient(endpoints: [$0.clientEndpoint]) }
        defer { Task { for client in clients { await client.close() } } }
        let killed = ContinuousClock.now
        cluster.members[leaderIndex].process.send(SIGKILL)
        while ContinuousClock.now - killed < .seconds(60) {
            for client in clients {
                if let status = try? await client.status(endpoint: 0), status.leader != 0, status.leader != leader {
                    return seconds(ContinuousClock.now - killed)
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestSupportError.timedOut("a new leader after SIGKILL of the leader")
    }

    /// Loads `keys` keys of `valueSize` bytes (transactions of 100 puts), adds a member and
    /// returns the seconds from its start until it has applied everything the leader had, and the
    /// member (still running: the cluster's quorum now counts it).
    static func newMemberCatchUp(_ cluster: EtcdCluster, keys: Int, valueSize: Int, executable: String,
                                 directory: TemporaryDirectory) async throws -> (seconds: Double, member: EtcdMember) {
        let endpoints = cluster.members.map(\.clientEndpoint)
        let clients = try (0..<8).map { _ in try EtcdClient(endpoints: endpoints) }
        try await load(keys: keys, valueSize: valueSize, prefix: "catch-up", clients: clients)
        let (_, leaderIndex) = try await currentLeader(cluster.members)
        let target = try await clients[0].status(endpoint: leaderIndex).raftIndex
        let ports = try FreePorts.allocate(2)
        let peerURL = "http://127.0.0.1:\(ports[1])"
        // The strict reconfiguration check wants every peer connected for 5 s first.
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                _ = try await clients[0].memberAdd(peerURLs: [peerURL])
                break
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        for client in clients { await client.close() }
        // A member answers MemberAdd once it has applied it; the joining member may ask another.
        for member in cluster.members {
            let client = try EtcdClient(endpoints: [member.clientEndpoint])
            while !((try? await client.memberList().members.contains { $0.peerUrls == [peerURL] }) ?? false) {
                try await Task.sleep(for: .milliseconds(20))
            }
            await client.close()
        }
        let started = ContinuousClock.now
        let member = try await EtcdMember.join(
            in: directory, name: "n4", clientPort: ports[0], peerPort: ports[1],
            initialCluster: cluster.initialCluster + ",n4=\(peerURL)", executable: executable, timeout: .seconds(600))
        let client = try EtcdClient(endpoints: [member.clientEndpoint])
        defer { Task { await client.close() } }
        while ContinuousClock.now - started < .seconds(600) {
            if let status = try? await client.status(endpoint: 0), status.raftAppliedIndex >= target {
                return (seconds(ContinuousClock.now - started), member)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await member.stop()
        throw TestSupportError.timedOut("the new member to catch up to index \(target)")
    }

    /// Loads `keys` keys of `valueSize` bytes into a one-member cluster (transactions of 100
    /// puts), then returns the server's resident memory, and the seconds from restarting it (after
    /// SIGTERM) until `/health` reports it healthy, which takes a read through Raft on both servers.
    /// The returned member is the restarted process, still running.
    static func datasetRestart(_ cluster: EtcdCluster, keys: Int, valueSize: Int) async throws
        -> (residentKilobytes: Int, restartSeconds: Double, member: EtcdMember)
    {
        let member = cluster.members[0]
        let clients = try (0..<8).map { _ in try EtcdClient(endpoints: [member.clientEndpoint]) }
        try await load(keys: keys, valueSize: valueSize, prefix: "dataset", clients: clients)
        for client in clients { await client.close() }
        let resident = residentKilobytes(pid: member.process.pid)
        await member.stop()
        let started = ContinuousClock.now
        let restarted = try member.relaunched()
        while ContinuousClock.now - started < .seconds(300) {
            if let response = try? HTTPProbe.get(port: restarted.clientPort, path: "/health"),
               response.status == 200, response.body.contains("\"health\":\"true\"") {
                return (resident, seconds(ContinuousClock.now - started), restarted)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        await restarted.stop()
        throw TestSupportError.timedOut("the restarted member to serve")
    }

    /// Writes keys `<prefix>/00000000`... with `valueSize`-byte values, 100 per transaction, the
    /// transactions spread over `clients` running concurrently.
    private static func load(keys: Int, valueSize: Int, prefix: String, clients: [EtcdClient]) async throws {
        let value = Data(repeating: UInt8(ascii: "v"), count: valueSize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (worker, client) in clients.enumerated() {
                group.addTask {
                    var start = worker * 100
                    while start < keys {
                        let puts = (start..<min(start + 100, keys)).map { TxnOperation.put(String(format: "\(prefix)/%08d", $0), value) }
                        _ = try await client.txn(Txn(then: puts))
                        start += 100 * clients.count
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private static func currentLeader(_ members: [EtcdMember]) async throws -> (id: UInt64, index: Int) {
        for _ in 0..<100 {
            var ids: [UInt64] = []
            var leaders: Set<UInt64> = []
            for member in members {
                let client = try EtcdClient(endpoints: [member.clientEndpoint])
                let status = try? await client.status(endpoint: 0)
                await client.close()
                ids.append(status?.header.memberID ?? 0)
                leaders.insert(status?.leader ?? 0)
            }
            if leaders.count == 1, let leader = leaders.first, let index = ids.firstIndex(of: leader) { return (leader, index) }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSupportError.timedOut("one leader agreed on by every member")
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
