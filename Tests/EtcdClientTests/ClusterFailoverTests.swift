import EtcdClient
import Foundation
import Synchronization
import Testing
import TestSupport

/// A three-member reference cluster loses the member the client talks to, which is also the leader:
/// the lease keep-alive and the watch carry on through the other members and the new leader.
@Suite struct ClusterFailoverTests {
    @Test func keepAliveAndWatchSurviveTheLeadersDeath() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-failover") { directory in
            let cluster = try await EtcdCluster.start(in: directory, size: 3)
            var configuration = EtcdClient.Configuration()
            configuration.maxStreamRetryBackoff = .milliseconds(300)
            configuration.keepaliveTime = .seconds(1)
            configuration.keepaliveTimeout = .seconds(1)
            let client = try EtcdClient(endpoints: cluster.members.map(\.clientEndpoint), configuration: configuration)
            do {
                // Make n1, the endpoint the client prefers, the leader.
                let n1 = try await client.status(endpoint: 0)
                if n1.leader != n1.header.memberID {
                    let leaderIndex = try await firstIndex(of: n1.leader, in: client)
                    try await client.moveLeader(endpoint: leaderIndex, targetID: n1.header.memberID)
                    try await waitUntil("n1 to lead") {
                        let status = try await client.status(endpoint: 0)
                        return status.leader == status.header.memberID
                    }
                }

                let lease = try await client.grantLease(ttl: 3)
                try await client.put("held", "v", .lease(lease.id))
                let renewals = Mutex(0)
                let keeper = Task {
                    for try await _ in client.keepAlive(leaseID: lease.id) { renewals.withLock { $0 += 1 } }
                }
                let seen = Mutex<[String]>([])
                let watcher = Task {
                    for try await response in client.watch("events/", .prefix) {
                        seen.withLock { $0 += response.events.map { String($0.kv.key) } }
                    }
                }
                try await waitUntil("the first renewal") { renewals.withLock { $0 } > 0 }
                try await client.put("events/1", "before")
                try await waitUntil("the watch to see the first event") { seen.withLock { $0 } == ["events/1"] }

                cluster.members[0].process.send(SIGKILL)
                await cluster.members[0].stop()
                try await waitUntil("a new leader", timeout: .seconds(20)) {
                    let status = try await client.status(endpoint: 1)
                    return status.leader != 0 && status.leader != n1.header.memberID
                }
                // Writes are not repeated on another member; a read (which is) moves the client first.
                try await waitUntil("the client to reach a survivor") { try await client.get("events/").header.revision > 0 }
                try await client.put("events/2", "after")
                try await waitUntil("the watch to resume elsewhere", timeout: .seconds(20)) {
                    seen.withLock { $0 } == ["events/1", "events/2"]
                }
                let renewalsAtFailover = renewals.withLock { $0 }
                try await Task.sleep(for: .seconds(7))
                #expect(renewals.withLock { $0 } > renewalsAtFailover, "keep-alives continue on the survivors")
                #expect(try await client.get("held").count == 1, "the lease outlived twice its TTL")
                #expect(try await client.leaseTimeToLive(lease.id).ttl > 0)
                keeper.cancel()
                watcher.cancel()
            } catch {
                for member in cluster.members { print("\(member.name) log:\n\(member.process.logTail(lines: 15))") }
                await client.close()
                await cluster.stop()
                throw error
            }
            await client.close()
            await cluster.stop()
        }
    }

    private func firstIndex(of memberID: UInt64, in client: EtcdClient) async throws -> Int {
        for index in client.endpoints.indices where try await client.status(endpoint: index).header.memberID == memberID {
            return index
        }
        throw EtcdError.etcd(.memberNotFound)
    }
}
