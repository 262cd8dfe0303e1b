import EtcdClient
import Foundation
import Synchronization
import Testing
import TestSupport

/// Three (and four) of our members as processes on loopback: leader failure under load, catching
/// up by snapshot, membership changes while clients write, a member of another cluster refused,
/// and the real clients (Debian's etcdctl, python3-etcd3) against the cluster.
@Suite(.serialized) struct ClusterProcessTests {
    static func startCluster(in directory: TemporaryDirectory, _ arguments: [String] = []) async throws -> EtcdCluster {
        try await EtcdCluster.start(in: directory, size: 3, executable: try builtExecutable("etcd"),
                                    extraArguments: arguments)
    }

    static func client(_ endpoints: [String], timeout: Duration = .seconds(10)) throws -> EtcdClient {
        var configuration = EtcdClient.Configuration()
        configuration.requestTimeout = timeout
        return try EtcdClient(endpoints: endpoints, configuration: configuration)
    }

    static func etcdctl(_ arguments: [String]) throws -> ProcessResult {
        try runProcess("/usr/bin/etcdctl", arguments, environment: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"])
    }

    /// The member that says it leads, with every running member agreeing on it.
    static func leader(of members: [EtcdMember]) async throws -> Int {
        var found: Int?
        try await waitUntil("one leader agreed on by \(members.map(\.name))", timeout: .seconds(30)) {
            var leaders: Set<UInt64> = []
            var ids: [UInt64] = []
            for member in members {
                let client = try client([member.clientEndpoint])
                defer { Task { await client.close() } }
                let status = try await client.status(endpoint: 0)
                leaders.insert(status.leader)
                ids.append(status.header.memberID)
            }
            guard leaders.count == 1, let leader = leaders.first, leader != 0, let index = ids.firstIndex(of: leader)
            else { return false }
            found = index
            return true
        }
        return found!
    }

    /// Waits until every member has applied the same revision with the same HashKV.
    static func waitForConvergence(_ members: [EtcdMember]) async throws {
        try await waitUntil("\(members.map(\.name)) to agree on HashKV", timeout: .seconds(60), interval: .milliseconds(300)) {
            var answers: Set<[Int64]> = []
            for member in members {
                let client = try client([member.clientEndpoint])
                defer { Task { await client.close() } }
                let hash = try await client.hashKV(endpoint: 0)
                answers.insert([hash.header.revision, Int64(hash.hash), hash.compactRevision])
            }
            return answers.count == 1
        }
    }

    /// Writers that count what the cluster acknowledged: every acknowledged key must survive.
    final class Writers: Sendable {
        private let state = Mutex<(acknowledged: [String], failures: Int)>(([], 0))
        private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])

        var acknowledged: [String] { state.withLock { $0.acknowledged } }
        var failures: Int { state.withLock { $0.failures } }

        func start(_ client: EtcdClient, count: Int, prefix: String) {
            for writer in 0..<count {
                let task = Task { [self] in
                    var index = 0
                    while !Task.isCancelled {
                        let key = "\(prefix)/\(writer)/\(index)"
                        do {
                            try await client.put(key, "value-\(index)")
                            self.state.withLock { $0.acknowledged.append(key) }
                        } catch {
                            self.state.withLock { $0.failures += 1 }
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                        index += 1
                    }
                }
                tasks.withLock { $0.append(task) }
            }
        }

        func stop() async {
            let all = tasks.withLock { $0 }
            for task in all { task.cancel() }
            for task in all { await task.value }
        }

        /// Waits until `more` writes were acknowledged after now.
        func waitForProgress(_ more: Int, _ what: String) async throws {
            let start = acknowledged.count
            try await waitUntil("\(more) more acknowledged writes \(what)", timeout: .seconds(30)) {
                acknowledged.count >= start + more
            }
        }
    }

    static func expectAllPresent(_ keys: [String], prefix: String, on member: EtcdMember) async throws {
        let client = try client([member.clientEndpoint])
        let stored = Set(try await client.get(prefix + "/", .prefix, .keysOnly).kvs.map { String(decoding: $0.key, as: UTF8.self) })
        await client.close()
        let missing = keys.filter { !stored.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) acknowledged writes lost, e.g. \(missing.prefix(5))")
    }

    /// Stops `member`, wipes its data dir and starts a new member in its place (same name, ports
    /// and `--initial-cluster`) with `arguments` that make it a stranger to the others.
    static func replaceWithStranger(_ member: EtcdMember, in cluster: EtcdCluster, directory: TemporaryDirectory,
                                    _ arguments: [String]) async throws -> ChildProcess {
        await member.stop()
        try FileManager.default.removeItem(atPath: member.dataDir)
        return try ChildProcess(
            name: "\(member.name)-stranger", executable: try builtExecutable("etcd"),
            arguments: ["--name", member.name, "--data-dir", member.dataDir,
                        "--listen-client-urls", "http://127.0.0.1:\(member.clientPort)",
                        "--advertise-client-urls", "http://127.0.0.1:\(member.clientPort)",
                        "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                        "--initial-cluster", cluster.initialCluster] + arguments,
            logPath: directory.appending("\(member.name)-stranger.log"))
    }

    /// The body of `/health` on `member`'s client port, once it answers at all.
    static func health(of member: EtcdMember) async throws -> String {
        var body = ""
        try await waitUntil("\(member.name)'s client port to answer /health") {
            body = try HTTPProbe.get(port: member.clientPort, path: "/health").body
            return true
        }
        return body
    }

    static func log(of member: EtcdMember) -> String {
        (try? String(contentsOfFile: member.process.logPath, encoding: .utf8)) ?? ""
    }

    // MARK: Tests

    @Test func realClientsSeeOneClusterOnEveryMember() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-clients") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            let endpoints = cluster.endpoints
            #expect(try Self.etcdctl(["--endpoints", cluster.members[0].clientEndpoint, "put", "greeting", "hello"]).stdout == "OK\n")
            // Linearizable reads on the other members see the write at once.
            for member in cluster.members.dropFirst() {
                let got = try Self.etcdctl(["--endpoints", member.clientEndpoint, "get", "greeting", "--print-value-only"])
                #expect(got.stdout == "hello\n", "\(member.name): \(got)")
            }
            let list = try Self.etcdctl(["--endpoints", endpoints, "member", "list"])
            #expect(list.exitCode == 0)
            for member in cluster.members {
                #expect(list.stdout.contains(", started, \(member.name), http://127.0.0.1:\(member.peerPort), http://127.0.0.1:\(member.clientPort), false"),
                        "\(list.stdout)")
            }
            let health = try Self.etcdctl(["--endpoints", endpoints, "endpoint", "health", "--cluster"])
            // etcdctl 3.4 reports health on stderr.
            #expect(health.exitCode == 0 && health.stderr.components(separatedBy: "is healthy").count == 4, "\(health)")
            let status = try Self.etcdctl(["--endpoints", endpoints, "endpoint", "status", "-w", "json"])
            #expect(status.stdout.components(separatedBy: "\"leader\":").count == 4)
            // python3-etcd3 (grpcio): a write on one member, a read and a lease keep-alive on others.
            let script = #"""
import etcd3, sys
a = etcd3.client(host="127.0.0.1", port=int(sys.argv[1]))
b = etcd3.client(host="127.0.0.1", port=int(sys.argv[2]))
a.put("py/key", "from-a")
print("read", b.get("py/key")[0].decode())
lease = b.lease(60)
a.put("py/leased", "x", lease=lease)
print("refresh", lease.refresh()[0].TTL)
print("ttl", 0 < lease.remaining_ttl <= 60, [k.decode() for k in lease.keys])
print("members", sorted(m.name for m in b.members))
"""#
            let python = try runProcess("/usr/bin/python3", ["-c", script, String(cluster.members[1].clientPort),
                                                              String(cluster.members[2].clientPort)])
            #expect(python.stdout == "read from-a\nrefresh 60\nttl True ['py/leased']\nmembers ['n1', 'n2', 'n3']\n",
                    "\(python)")
            // move-leader hands leadership to the member named.
            let leader = try await Self.leader(of: cluster.members)
            let target = (leader + 1) % 3
            let targetClient = try Self.client([cluster.members[target].clientEndpoint])
            let targetID = try await targetClient.status(endpoint: 0).header.memberID
            await targetClient.close()
            let moved = try Self.etcdctl(["--endpoints", cluster.members[leader].clientEndpoint, "move-leader",
                                          String(targetID, radix: 16)])
            #expect(moved.stdout.contains("Leadership transferred from"), "\(moved)")
            #expect(try await Self.leader(of: cluster.members) == target)
            try await Self.waitForConvergence(cluster.members)
        }
    }

    @Test func leaderKilledUnderWriteLoadIsReplacedAndRejoins() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-leader-kill") { directory in
            var cluster = try await Self.startCluster(in: directory)
            do {
                try await Self.killLeader(&cluster)
            } catch {
                await cluster.stop()
                throw error
            }
            await cluster.stop()
        }
    }

    static func killLeader(_ cluster: inout EtcdCluster) async throws {
        let oldLeader = try await Self.leader(of: cluster.members)
        let client = try Self.client(cluster.members.map(\.clientEndpoint))
        let writers = Writers()
        writers.start(client, count: 4, prefix: "load")
        try await writers.waitForProgress(50, "before the kill")

        let killed = ContinuousClock.now
        cluster.members[oldLeader].process.send(SIGKILL)
        let survivors = cluster.members.indices.filter { $0 != oldLeader }.map { cluster.members[$0] }
        let newLeader = try await Self.leader(of: survivors)
        print("new leader \(survivors[newLeader].name) elected \(ContinuousClock.now - killed) after SIGKILL of \(cluster.members[oldLeader].name)")
        try await writers.waitForProgress(50, "after the new leader was elected")

        cluster.members[oldLeader] = try await cluster.members[oldLeader].restarted()
        try await writers.waitForProgress(50, "with the old leader back")
        await writers.stop()
        await client.close()
        try await Self.waitForConvergence(cluster.members)
        try await Self.expectAllPresent(writers.acknowledged, prefix: "load", on: cluster.members[oldLeader])
    }

    @Test func pausedMembersAreReplacedAndCatchUpWhenResumed() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-pause") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            // A request stuck on a paused member gives up soon and goes to another.
            let client = try Self.client(cluster.members.map(\.clientEndpoint), timeout: .seconds(2))
            let writers = Writers()
            writers.start(client, count: 4, prefix: "paused")
            try await writers.waitForProgress(50, "before the pauses")
            // A follower paused (SIGSTOP) for three election timeouts: the others go on without it.
            let leader = try await Self.leader(of: cluster.members)
            let follower = cluster.members[(leader + 1) % 3]
            follower.process.send(SIGSTOP)
            try await writers.waitForProgress(200, "with a follower paused")
            try await Task.sleep(for: .seconds(3))
            follower.process.send(SIGCONT)
            // The leader paused as long: the others elect a new one; resumed, it follows.
            let paused = cluster.members[leader]
            paused.process.send(SIGSTOP)
            let others = cluster.members.filter { $0.name != paused.name }
            let newLeader = try await Self.leader(of: others)
            #expect(others[newLeader].name != paused.name)
            try await writers.waitForProgress(100, "with the old leader paused")
            paused.process.send(SIGCONT)
            try await writers.waitForProgress(100, "with every member back")
            await writers.stop()
            await client.close()
            try await Self.waitForConvergence(cluster.members)
            #expect(try await Self.leader(of: cluster.members) != leader)
            try await Self.expectAllPresent(writers.acknowledged, prefix: "paused", on: follower)
        }
    }

    @Test func memberBehindTheLeadersLogCatchesUpBySnapshot() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-snapshot") { directory in
            var cluster = try await Self.startCluster(in: directory, ["--snapshot-count", "1000"])
            do {
                try await Self.catchUpBySnapshot(&cluster)
            } catch {
                await cluster.stop()
                throw error
            }
            await cluster.stop()
        }
    }

    static func catchUpBySnapshot(_ cluster: inout EtcdCluster) async throws {
        let leader = try await Self.leader(of: cluster.members)
        let lagging = (leader + 1) % 3
        cluster.members[lagging].process.send(SIGKILL)
        _ = await cluster.members[lagging].process.stop()
        // The leader keeps 5,000 entries behind its newest snapshot; go well past that.
        let client = try Self.client([cluster.members[leader].clientEndpoint])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<25 {
                group.addTask {
                    for index in 0..<280 { try await client.put("bulk/\(writer)/\(index)", "v\(index)") }
                }
            }
            try await group.waitForAll()
        }
        await client.close()
        cluster.members[lagging] = try await cluster.members[lagging].restarted()
        try await Self.waitForConvergence(cluster.members)
        let log = Self.log(of: cluster.members[lagging])
        #expect(log.contains("applied snapshot at index"), "the lagging member did not install a snapshot:\n\(log.suffix(2000))")
        let count = try Self.client([cluster.members[lagging].clientEndpoint])
        #expect(try await count.get("bulk/", .prefix, .countOnly).count == 7000)
        await count.close()
        // It restarts from the installed snapshot and the WAL after it.
        cluster.members[lagging].process.send(SIGKILL)
        _ = await cluster.members[lagging].process.stop()
        cluster.members[lagging] = try await cluster.members[lagging].restarted()
        try await Self.waitForConvergence(cluster.members)
        #expect(Self.log(of: cluster.members[lagging]).contains("recovered store from snapshot at index"))
    }

    /// A new member whose first contact is the leader's snapshot, killed while installing it
    /// after the file was in place and before its WAL recorded it (failpoint
    /// `snapshotCrashAfterAdopt`), restarts from that file; and, once it has written entries
    /// after it, restarts again. (Found by a long fault run: the second restart looked for the
    /// entries before the snapshot, which were never written, and the member never came back.)
    @Test func aJoiningMemberKilledWhileInstallingTheLeadersSnapshotRestartsTwice() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-snapshot-adopt") { directory in
            let cluster = try await Self.startCluster(in: directory, ["--snapshot-count", "1000"])
            defer { Task { await cluster.stop() } }
            let client = try Self.client(cluster.members.map(\.clientEndpoint))
            defer { Task { await client.close() } }
            // Past the 5,000 entries the leader keeps behind its snapshot: a new member needs the snapshot.
            try await Self.writeBulk(client, writers: 25, each: 280, prefix: "bulk")
            let crashing = try await Self.addMember(to: cluster, in: directory, extraArguments: ["--snapshot-count", "1000"],
                                                    failpoint: "snapshotCrashAfterAdopt")
            try await waitUntil("the joining member to crash at the failpoint", timeout: .seconds(60)) { !crashing.process.isRunning }
            #expect(Self.log(of: crashing).contains("failpoint snapshotCrashAfterAdopt"), "\(Self.log(of: crashing).suffix(1500))")
            let recovered = try crashing.relaunched(environment: [:])
            try await recovered.waitUntilHealthy(timeout: .seconds(60))
            #expect(Self.log(of: recovered).contains("was not in the WAL"))
            try await Self.writeBulk(client, writers: 5, each: 40, prefix: "after")
            recovered.process.send(SIGKILL)
            _ = await recovered.process.stop()
            let member = try recovered.relaunched()
            defer { Task { await member.stop() } }
            try await member.waitUntilHealthy(timeout: .seconds(60))
            try await waitUntil("the restarted member to have every write") {
                let reader = try Self.client([member.clientEndpoint])
                defer { Task { await reader.close() } }
                let bulk = try await reader.get("bulk/", .prefix, .countOnly, .serializable).count
                let after = try await reader.get("after/", .prefix, .countOnly, .serializable).count
                return bulk == 7000 && after == 200
            }
        }
    }

    /// Adds member n4 (`member add`) and starts it with a failpoint on, without waiting for it.
    static func addMember(to cluster: EtcdCluster, in directory: TemporaryDirectory, extraArguments: [String] = [],
                          failpoint: String) async throws -> EtcdMember {
        let ports = try FreePorts.allocate(2)
        let peerURL = "http://127.0.0.1:\(ports[1])"
        try await waitUntil("member add to be accepted", timeout: .seconds(30), interval: .milliseconds(500)) {
            try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "add", "n4", "--peer-urls", peerURL]).exitCode == 0
        }
        return try EtcdMember.launch(
            name: "n4", clientPort: ports[0], peerPort: ports[1], initialCluster: cluster.initialCluster + ",n4=\(peerURL)",
            token: "", state: "existing", executable: try builtExecutable("etcd"), extraArguments: extraArguments,
            directory: directory, environment: ["SWIFT_ETCD_FAILPOINTS": failpoint])
    }

    static func writeBulk(_ client: EtcdClient, writers: Int, each: Int, prefix: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in 0..<each { try await client.put("\(prefix)/\(writer)/\(index)", "v\(index)") }
                }
            }
            try await group.waitForAll()
        }
    }

    /// A member that crashed after its join created its WAL, before the leader sent it anything,
    /// knows the cluster only from what the join recorded: its restart must reach the members,
    /// answer the leader and catch up (before, it heard the leader but could never answer).
    @Test func aMemberThatCrashedRightAfterJoiningCatchesUpOnRestart() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-join-crash") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            let client = try Self.client(cluster.members.map(\.clientEndpoint))
            defer { Task { await client.close() } }
            let written = try await client.put("before-join", "present")
            let crashing = try await Self.addMember(to: cluster, in: directory, failpoint: "crashAfterJoining")
            try await waitUntil("the joining member to crash at the failpoint", timeout: .seconds(20)) { !crashing.process.isRunning }
            #expect(Self.log(of: crashing).contains("failpoint crashAfterJoining"))
            let restarted = try crashing.relaunched(environment: [:])
            defer { Task { await restarted.stop() } }
            try await restarted.waitUntilHealthy(timeout: .seconds(60))
            try await waitUntil("the restarted member to have the data written before it joined") {
                let member = try Self.client([restarted.clientEndpoint])
                defer { Task { await member.close() } }
                let read = try await member.get("before-join", .serializable)
                return read.kvs.first?.modRevision == written.header.revision
            }
        }
    }

    @Test func membersAreAddedPromotedUpdatedAndRemovedWhileClientsWrite() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-membership") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            let client = try Self.client(cluster.members.map(\.clientEndpoint))
            let writers = Writers()
            writers.start(client, count: 2, prefix: "during")

            let ports = try FreePorts.allocate(2)
            let peerURL = "http://127.0.0.1:\(ports[1])"
            // With --strict-reconfig-check (the default) a member may be added only once this member
            // has been connected to every peer for etcd's health interval (5 s).
            var added: UInt64 = 0
            try await waitUntil("member add to be accepted", timeout: .seconds(30), interval: .milliseconds(500)) {
                let answer = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "add", "n4", "--learner",
                                               "--peer-urls", peerURL, "-w", "json"])
                guard answer.exitCode == 0 else {
                    #expect(answer.stderr.contains("etcdserver: unhealthy cluster"), "\(answer)")
                    return false
                }
                let json = try JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any]
                added = ((json?["member"] as? [String: Any])?["ID"] as? NSNumber)?.uint64Value ?? 0
                return true
            }
            #expect(added != 0)
            let hexID = String(added, radix: 16)
            let tooEarly = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "promote", hexID])
            #expect(tooEarly.stderr.contains("etcdserver: can only promote a learner member which is in sync with leader"),
                    "\(tooEarly)")

            let learner = try await EtcdMember.join(
                in: directory, name: "n4", clientPort: ports[0], peerPort: ports[1],
                initialCluster: cluster.initialCluster + ",n4=\(peerURL)", executable: try builtExecutable("etcd"))
            defer { Task { await learner.stop() } }
            // A learner serves Status and serializable reads only, as etcd's do.
            let refused = try Self.etcdctl(["--endpoints", learner.clientEndpoint, "put", "x", "y"])
            #expect(refused.stderr.contains("etcdserver: rpc not supported for learner"), "\(refused)")
            try await waitUntil("the learner to have replicated the writes") {
                let read = try Self.etcdctl(["--endpoints", learner.clientEndpoint, "get", "during/", "--prefix",
                                             "--consistency", "s", "--keys-only"])
                return read.exitCode == 0 && read.stdout.hasPrefix("during/")
            }
            try await waitUntil("promote to be accepted", timeout: .seconds(30), interval: .milliseconds(300)) {
                try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "promote", hexID]).exitCode == 0
            }
            let update = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "update", hexID, "--peer-urls", peerURL])
            // etcdctl prints ids with %16x: a leading zero nibble becomes a space.
            #expect(update.stdout.contains("\(hexID) updated in cluster"), "\(update)")
            let list = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "list"])
            #expect(list.stdout.contains("\(hexID), started, n4, \(peerURL), http://127.0.0.1:\(ports[0]), false"), "\(list)")
            try await writers.waitForProgress(20, "with four members")
            // The promoted member takes part: a write acknowledged now shows up there (and it could
            // only be acknowledged with a quorum of the four).
            let marker = try await client.put("marker", "four-members")
            try await waitUntil("the new member to apply revision \(marker.header.revision)") {
                let member = try Self.client([learner.clientEndpoint])
                defer { Task { await member.close() } }
                return try await member.get("marker", .serializable).kvs.first?.value == Data("four-members".utf8)
            }

            // Removing a voter also waits until every peer has been connected for 5 s.
            try await waitUntil("member remove to be accepted", timeout: .seconds(30), interval: .milliseconds(500)) {
                let removed = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "remove", hexID])
                guard removed.exitCode == 0 else {
                    #expect(removed.stderr.contains("etcdserver: unhealthy cluster"), "\(removed)")
                    return false
                }
                #expect(removed.stdout.contains("\(hexID) removed from cluster"), "\(removed)")
                return true
            }
            try await waitUntil("the removed member to stop", timeout: .seconds(20)) { !learner.process.isRunning }
            #expect(Self.log(of: learner).contains("the member has been permanently removed from the cluster"))
            let after = try Self.etcdctl(["--endpoints", cluster.endpoints, "member", "list"])
            #expect(after.stdout.split(separator: "\n").count == 3 && !after.stdout.contains(hexID), "\(after)")
            try await writers.waitForProgress(20, "after the removal")
            await writers.stop()
            await client.close()
            try await Self.waitForConvergence(cluster.members)
            try await Self.expectAllPresent(writers.acknowledged, prefix: "during", on: cluster.members[0])
        }
    }

    /// A follower accepts membership changes as the leader does: it dials every peer from the
    /// start, so it knows them all to be connected (the strict reconfiguration check) without
    /// ever having had to send them anything. Debian's etcd does the same.
    @Test(arguments: ["ours", "reference"])
    func aFollowerAcceptsMembershipChanges(server: String) async throws {
        try await TemporaryDirectory.with(prefix: "cluster-follower-reconfig") { directory in
            let executable = server == "ours" ? try builtExecutable("etcd") : EtcdMember.referenceExecutable
            let cluster = try await EtcdCluster.start(in: directory, size: 3, executable: executable)
            defer { Task { await cluster.stop() } }
            let leader = try await Self.leader(of: cluster.members)
            let follower = cluster.members[(leader + 1) % 3].clientEndpoint
            let peerURL = "http://127.0.0.1:\(try FreePorts.allocate(1)[0])"
            var added = ""
            // Accepted once the follower has been connected to every peer for 5 s.
            try await waitUntil("member add at a follower to be accepted", timeout: .seconds(30), interval: .milliseconds(500)) {
                let answer = try Self.etcdctl(["--endpoints", follower, "member", "add", "n4", "--peer-urls", peerURL])
                guard answer.exitCode == 0 else {
                    #expect(answer.stderr.contains("etcdserver: unhealthy cluster"), "\(answer)")
                    return false
                }
                added = answer.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                return answer.stdout.hasPrefix("Member ") && answer.stdout.contains("added to cluster")
            }
            let list = try Self.etcdctl(["--endpoints", follower, "member", "list"])
            #expect(list.stdout.contains("\(added), unstarted, , \(peerURL), , false"), "\(list)")
            // Removing the member that never started leaves three of four connected: still a quorum.
            let removed = try Self.etcdctl(["--endpoints", follower, "member", "remove", added])
            #expect(removed.exitCode == 0 && removed.stdout.contains("\(added) removed from cluster"), "\(removed)")
            let after = try Self.etcdctl(["--endpoints", follower, "member", "list"])
            #expect(after.stdout.split(separator: "\n").count == 3, "\(after)")
        }
    }

    /// A member whose WAL cannot be synced stops at once, with status 1 as etcd's does, and its
    /// restart gets its ports back: no crash backtracer (a child process that would hold the
    /// member's sockets for minutes) runs in the server.
    @Test func aMemberWhoseFsyncFailsExitsAndItsRestartGetsItsPorts() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-fsync-fails") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            let victim = cluster.members[0]
            await victim.stop()
            // Its first sync after the restart fails (an election or the leader's appends).
            let failing = try victim.relaunched(environment: ["SWIFT_ETCD_FAILPOINTS": "walSyncFails=1"])
            try await waitUntil("the member to stop on its failed fsync", timeout: .seconds(30)) { !failing.process.isRunning }
            let status = failing.process.status ?? -1
            let log = Self.log(of: failing)
            #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 1, "exit status \(status)\n\(log.suffix(2000))")
            #expect(log.contains("failed to persist raft entries") && !log.contains("Backtracing"), "\(log.suffix(2000))")
            let restarted = try failing.relaunched(environment: [:])
            defer { Task { await restarted.stop() } }
            try await restarted.waitUntilHealthy(timeout: .seconds(30))
        }
    }

    @Test func memberOfAnotherClusterIsRefused() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-token") { directory in
            let cluster = try await Self.startCluster(in: directory)
            defer { Task { await cluster.stop() } }
            // n3 again, but bootstrapped with another cluster token: another cluster id.
            let stray = cluster.members[2]
            let process = try await Self.replaceWithStranger(stray, in: cluster, directory: directory,
                                                             ["--initial-cluster-token", "another-token"])
            defer { Task { await process.stop() } }
            try await waitUntil("the stray member to be refused", timeout: .seconds(20)) {
                let log = (try? String(contentsOfFile: process.logPath, encoding: .utf8)) ?? ""
                return log.contains("refused the stream: request cluster ID mismatch")
            }
            #expect(Self.log(of: cluster.members[0]).contains("request cluster ID mismatch"))
            #expect(try await Self.health(of: stray).contains("\"health\":\"false\""))
            // The real cluster still serves, once the two left have elected a leader (when n3 led, a
            // write sent before they notice is forwarded to the stranger and lost, as in etcd).
            try await waitUntil("the two members left to take a write", timeout: .seconds(20), interval: .milliseconds(500)) {
                try Self.etcdctl(["--endpoints", cluster.members[0].clientEndpoint, "--command-timeout", "2s",
                                  "put", "still", "here"]).stdout == "OK\n"
            }
        }
    }

    @Test func peersTalkOverTLSWithAutoTLSAndWithCertificates() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-tls") { directory in
            let auto = try await EtcdCluster.start(in: directory, size: 3, executable: try builtExecutable("etcd"),
                                                   extraArguments: ["--peer-auto-tls"], peerScheme: "https")
            #expect(try Self.etcdctl(["--endpoints", auto.members[0].clientEndpoint, "put", "k", "over-tls"]).stdout == "OK\n")
            let read = try Self.etcdctl(["--endpoints", auto.members[2].clientEndpoint, "get", "k", "--print-value-only"])
            #expect(read.stdout == "over-tls\n", "\(read)")
            let list = try Self.etcdctl(["--endpoints", auto.endpoints, "member", "list"])
            #expect(list.stdout.components(separatedBy: ", https://127.0.0.1:").count == 4, "\(list)")
            await auto.stop()
        }
        try await TemporaryDirectory.with(prefix: "cluster-ca") { directory in
            // A CA, and one certificate it signed for 127.0.0.1, used by every member both ways.
            let pki = try TestCertificates(in: directory)
            let cluster = try await EtcdCluster.start(
                in: directory, size: 3, executable: try builtExecutable("etcd"),
                extraArguments: ["--peer-cert-file", pki.serverCertificate, "--peer-key-file", pki.serverKey,
                                 "--peer-trusted-ca-file", pki.ca, "--peer-client-cert-auth"],
                peerScheme: "https")
            defer { Task { await cluster.stop() } }
            #expect(try Self.etcdctl(["--endpoints", cluster.members[1].clientEndpoint, "put", "k", "signed"]).stdout == "OK\n")
            // n3 again with a certificate the CA did not sign: the others refuse its connections.
            let stray = cluster.members[2]
            let process = try await Self.replaceWithStranger(stray, in: cluster, directory: directory,
                                                             ["--peer-auto-tls", "--initial-cluster-token", "test-\(directory.path.hashValue)"])
            defer { Task { await process.stop() } }
            try await waitUntil("the untrusted member to be refused", timeout: .seconds(20)) {
                Self.log(of: cluster.members[0]).contains("handshakeFailed")
            }
            #expect(try await Self.health(of: stray).contains("\"health\":\"false\""))
        }
    }

    @Test func initialCorruptCheckRefusesAMemberWhoseDataDiffer() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-corrupt") { directory in
            // Two clusters with the same names, ports and token (so the same member and cluster ids)
            // and the same number of writes, but different values; then n3's data dir is swapped in.
            let first = try await Self.startCluster(in: directory)
            for index in 0..<10 { _ = try Self.etcdctl(["--endpoints", first.members[0].clientEndpoint, "put", "k\(index)", "first"]) }
            try await Self.waitForConvergence(first.members)
            await first.stop()
            for member in first.members { try FileManager.default.moveItem(atPath: member.dataDir, toPath: member.dataDir + ".first") }

            let second = first.members.map { try? $0.relaunched() }.compactMap { $0 }
            for member in second { try await member.waitUntilHealthy() }
            for index in 0..<10 { _ = try Self.etcdctl(["--endpoints", second[0].clientEndpoint, "put", "k\(index)", "second"]) }
            try await Self.waitForConvergence(second)
            for member in second { await member.stop() }
            // n1 and n2 from the first cluster, n3 from the second; n3 starts once the others listen.
            for member in first.members.prefix(2) {
                try FileManager.default.removeItem(atPath: member.dataDir)
                try FileManager.default.moveItem(atPath: member.dataDir + ".first", toPath: member.dataDir)
            }
            var checked = try first.members.prefix(2).map { try $0.relaunched(extraArguments: ["--experimental-initial-corrupt-check"]) }
            try await Task.sleep(for: .seconds(1))
            checked.append(try first.members[2].relaunched(extraArguments: ["--experimental-initial-corrupt-check"]))
            try await waitUntil("n3 to refuse to serve", timeout: .seconds(30)) { !checked[2].process.isRunning }
            for member in checked { await member.stop() }
            let log = Self.log(of: checked[2])
            #expect(log.contains("found data inconsistency with peers"), "\(log.suffix(1500))")
            #expect(log.contains("'s hash"))
        }
    }
}
