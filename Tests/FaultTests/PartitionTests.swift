import EtcdClient
import FaultHarness
import Foundation
import Testing
import TestSupport

/// Members in network namespaces of their own (`NetworkLab`), so that links between them can be
/// cut and slowed while the test's clients reach every member. Against Debian's etcd and ours.
/// Needs root (CI runs as root); skipped otherwise.
@Suite(.serialized, .enabled(if: NetworkLab.isAvailable, "needs root and iproute2 for network namespaces"))
struct PartitionTests {
    /// The lab does what it says: a leader cut off from the others stops serving linearizable
    /// reads, the majority elects a new leader and takes writes, and once healed the old leader
    /// follows the new one and has those writes.
    @Test(arguments: ["reference", "ours"])
    func isolatedLeaderLosesItsQuorumAndCatchesUpAfterHealing(server: String) async throws {
        let executable = server == "ours" ? try RegisterUnderKillsTests.ours() : EtcdMember.referenceExecutable
        let lab = try NetworkLab(size: 3)
        defer { lab.destroy() }
        try await TemporaryDirectory.with(prefix: "partition-\(server)") { directory in
            let cluster = try await EtcdCluster.start(in: directory, size: 3, executable: executable, lab: lab)
            defer { Task { await cluster.stop() } }
            let observer = try RegisterHarness.client(cluster, startingAt: 0)
            let oldLeader = try #require(await waitForLeader(cluster, asking: observer, other: nil))

            try lab.isolate(oldLeader)
            let newLeader = try #require(await waitForLeader(cluster, asking: observer, other: oldLeader),
                                         "the majority elected no new leader")
            let majority = try RegisterHarness.client(cluster, startingAt: newLeader, only: true)
            _ = try await majority.put("partitioned", "written by the majority")
            let isolated = try RegisterHarness.client(cluster, startingAt: oldLeader, only: true)
            await #expect(throws: (any Error).self, "the isolated old leader served a linearizable read") {
                _ = try await isolated.get("partitioned")
            }

            try lab.heal()
            let deadline = ContinuousClock.now + .seconds(15)
            var caughtUp = false
            while !caughtUp && ContinuousClock.now < deadline {
                let value = try? await isolated.get("partitioned", .serializable).kvs.first?.value
                caughtUp = value == Data("written by the majority".utf8)
                if !caughtUp { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(caughtUp, "the old leader did not catch up after healing")
            for client in [observer, majority, isolated] { await client.close() }
        }
    }

    /// The same partition on our server with the failpoint that answers linearizable reads
    /// without ReadIndex: the cut-off old leader now answers with the value from before the
    /// majority's write, the stale read that the test above shows the real server refuses.
    @Test func isolatedLeaderServesStaleReadsWhenReadIndexIsSkipped() async throws {
        let lab = try NetworkLab(size: 3)
        defer { lab.destroy() }
        try await TemporaryDirectory.with(prefix: "partition-failpoint") { directory in
            let cluster = try await EtcdCluster.start(
                in: directory, size: 3, executable: try builtExecutable("etcd"),
                environment: ["SWIFT_ETCD_FAILPOINTS": "linearizableReadsSkipReadIndex"], lab: lab)
            defer { Task { await cluster.stop() } }
            let observer = try RegisterHarness.client(cluster, startingAt: 0)
            _ = try await observer.put("partitioned", "before")
            let oldLeader = try #require(await waitForLeader(cluster, asking: observer, other: nil))
            let isolated = try RegisterHarness.client(cluster, startingAt: oldLeader, only: true)
            // Everything applied everywhere before the cut: the old leader has "before".
            while try await isolated.get("partitioned", .serializable).kvs.first?.value != Data("before".utf8) {
                try await Task.sleep(for: .milliseconds(50))
            }

            try lab.isolate(oldLeader)
            let newLeader = try #require(await waitForLeader(cluster, asking: observer, other: oldLeader))
            let majority = try RegisterHarness.client(cluster, startingAt: newLeader, only: true)
            _ = try await majority.put("partitioned", "after")
            let stale = try await isolated.get("partitioned").kvs.first?.value
            #expect(stale == Data("before".utf8), "expected the stale value from the cut-off member")
            try lab.heal()
            for client in [observer, majority, isolated] { await client.close() }
        }
    }

    /// Registers stay linearizable while members are isolated (the leader half of the time), single
    /// links are cut, members' packets are throttled, and members are killed or paused.
    @Test(arguments: ["reference", "ours"], [3, 5])
    func registersStayLinearizableUnderPartitions(server: String, members: Int) async throws {
        let executable = server == "ours" ? try RegisterUnderKillsTests.ours() : EtcdMember.referenceExecutable
        let lab = try NetworkLab(size: members)
        defer { lab.destroy() }
        try await TemporaryDirectory.with(prefix: "fault-partition-\(server)") { directory in
            let run = try await RegisterHarness.run(
                executable: executable, seconds: RegisterUnderKillsTests.seconds, faults: .partitionsAndLinks,
                directory: directory, clients: RegisterUnderKillsTests.clientCount, seed: RegisterUnderKillsTests.seed,
                lab: lab)
            RegisterUnderKillsTests.expectClean(run, "partition run (\(server), \(members) members)", directory: directory)
            #expect(run.faults.contains { $0.hasPrefix("isolate") || $0.hasPrefix("cut") || $0.hasPrefix("throttle") },
                    "the schedule held no network fault")
        }
    }

    /// The index of the leader the members agree on, other than `other`, within 15 s.
    private func waitForLeader(_ cluster: EtcdCluster, asking client: EtcdClient, other: Int?) async -> Int? {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            // The excluded member's own view is not asked, so it is never the answer.
            if let leader = await RegisterHarness.leader(of: cluster, asking: client, excluding: other) {
                return leader
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}
