import Crypto
import Foundation
import Testing
import TestSupport

/// Debian's etcdctl against the reference etcd and against ours, fed the same table of command
/// lines in the same order: stdout, stderr and exit codes must match once ids, ports, lease ids,
/// timings and Raft indexes are replaced by placeholders.
@Suite(.serialized) struct ServerDifferentialTests {
    @Test func referenceEtcdctlGetsTheSameAnswersFromOurServer() async throws {
        try await TemporaryDirectory.with(prefix: "server-diff") { directory in
            let oursDirectory = try TemporaryDirectory(prefix: "server-diff-ours")
            defer { oursDirectory.remove() }
            let referenceServer = try await EtcdMember.start(in: directory)
            let oursServer = try await EtcdMember.start(in: oursDirectory, executable: try builtExecutable("etcd"))
            var reference = try await Side(etcdctl: "/usr/bin/etcdctl", server: referenceServer)
            var ours = try await Side(etcdctl: "/usr/bin/etcdctl", server: oursServer)
            reference.ignoresRaftIndexes = true
            ours.ignoresRaftIndexes = true

            let mismatches = try EtcdctlCase.mismatches(reference: &reference, ours: &ours)
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(EtcdctlCase.table.count) command lines differ:\n\(mismatches.joined(separator: "\n\n"))")
            // Before the directories go (a throw above leaves them to the exit-time clean-up).
            await referenceServer.stop()
            await oursServer.stop()
        }
    }
}

/// The same table against three-member clusters, sent to a follower (n2) while n1 leads on both
/// sides: writes and linearizable reads cross the peer transport, and `member list`, `endpoint
/// status --cluster` and the rest must match member for member.
@Suite(.serialized) struct ClusterDifferentialTests {
    @Test func referenceEtcdctlGetsTheSameAnswersFromAFollowerOfOurCluster() async throws {
        try await TemporaryDirectory.with(prefix: "cluster-diff") { directory in
            let oursDirectory = try TemporaryDirectory(prefix: "cluster-diff-ours")
            defer { oursDirectory.remove() }
            let referenceCluster = try await EtcdCluster.start(in: directory, size: 3, token: Self.tokenOrderingMembersByName)
            let oursCluster = try await EtcdCluster.start(in: oursDirectory, size: 3, executable: try builtExecutable("etcd"),
                                                          token: Self.tokenOrderingMembersByName)
            for cluster in [referenceCluster, oursCluster] { try await Self.moveLeadership(of: cluster, to: 0) }
            var reference = try await Side(etcdctl: "/usr/bin/etcdctl", server: referenceCluster.members[1],
                                           cluster: referenceCluster)
            var ours = try await Side(etcdctl: "/usr/bin/etcdctl", server: oursCluster.members[1], cluster: oursCluster)
            for side in [\Side.ignoresRaftIndexes, \Side.ignoresRaftTerms] {
                reference[keyPath: side] = true
                ours[keyPath: side] = true
            }

            let mismatches = try EtcdctlCase.mismatches(reference: &reference, ours: &ours)
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(EtcdctlCase.table.count) command lines differ:\n\(mismatches.joined(separator: "\n\n"))")
            await referenceCluster.stop()
            await oursCluster.stop()
        }
    }

    /// etcd lists members by id, and ids hash the peer URLs with the token: a token under which
    /// n1 < n2 < n3 makes both clusters list their members in the same order.
    static let tokenOrderingMembersByName: @Sendable ([String]) -> String = { peerURLs in
        for attempt in 0... {
            let token = "differential-\(attempt)"
            let ids = peerURLs.map { url in
                Insecure.SHA1.hash(data: Array((url + token).utf8)).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
            if ids == ids.sorted() { return token }
        }
        fatalError("unreachable")
    }

    static func moveLeadership(of cluster: EtcdCluster, to index: Int) async throws {
        let target = cluster.members[index]
        func status() throws -> [(endpoint: String, id: UInt64, leader: UInt64)] {
            let raw = try Side.execute("/usr/bin/etcdctl", ["--endpoints", cluster.endpoints, "endpoint", "status", "-w", "json"], stdin: nil)
            let entries = try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [[String: Any]] ?? []
            return entries.compactMap { entry in
                guard let endpoint = entry["Endpoint"] as? String, let status = entry["Status"] as? [String: Any],
                      let header = status["header"] as? [String: Any],
                      let id = (header["member_id"] as? NSNumber)?.uint64Value,
                      let leader = (status["leader"] as? NSNumber)?.uint64Value else { return nil }
                return (endpoint, id, leader)
            }
        }
        try await waitUntil("\(target.name) to lead", timeout: .seconds(30), interval: .milliseconds(300)) {
            let members = try status()
            guard members.count == cluster.members.count, let targetID = members.first(where: { $0.endpoint == target.clientEndpoint })?.id
            else { return false }
            if members.allSatisfy({ $0.leader == targetID }) { return true }
            if let leader = members.first(where: { $0.id == $0.leader }) {
                _ = try Side.execute("/usr/bin/etcdctl", ["--endpoints", leader.endpoint, "move-leader", String(targetID, radix: 16)], stdin: nil)
            }
            return false
        }
    }
}

/// `etcdctl snapshot save` from our server writes our SQLite snapshot (with etcd's SHA-256 trailer);
/// `snapshot status` reads it in every format, and refuses a damaged one.
@Suite struct OurSnapshotStatusTests {
    @Test func savedSnapshotStatusInEveryFormat() async throws {
        try await TemporaryDirectory.with(prefix: "ours-snapshot-status") { directory in
            let server = try await EtcdMember.start(in: directory, executable: try builtExecutable("etcd"))
            let etcdctl = try oursEtcdctlPath()
            for index in 0..<20 {
                _ = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "put", "k\(index)", "v\(index)"], stdin: nil)
            }
            _ = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "del", "k0"], stdin: nil)
            let path = directory.appending("ours.db")
            let saved = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "snapshot", "save", path], stdin: nil)
            #expect(saved.stdout == "Snapshot saved at \(path)\n")
            await server.stop()

            let fields = try Side.execute(etcdctl, ["snapshot", "status", path, "-w", "fields"], stdin: nil)
            #expect(fields.exitCode == 0, "\(fields.stderr)")
            // 20 puts and a delete: revision 22, 21 history records.
            #expect(fields.stdout.contains("\"Revision\" : 22\n\"Keys\" : 21\n"), "\(fields.stdout)")
            let json = try Side.execute(etcdctl, ["snapshot", "status", path, "-w", "json"], stdin: nil)
            #expect(json.stdout.contains("\"revision\":22,\"totalKey\":21,"))
            let simple = try Side.execute(etcdctl, ["snapshot", "status", path], stdin: nil)
            #expect(simple.stdout.firstMatch(of: /^[0-9a-f]+, 22, 21, \d+ kB\n$/) != nil, "\(simple.stdout)")
            let table = try Side.execute(etcdctl, ["snapshot", "status", path, "-w", "table"], stdin: nil)
            #expect(table.stdout.contains("| TOTAL KEYS |"))
            // The file is also a SQLite database (the trailer is ignored by SQLite).
            let live = try runProcess("/usr/bin/sqlite3", [path, "select count(*) from live_kv"])
            #expect(live.stdout == "19\n")

            let damaged = directory.appending("damaged.db")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: damaged))
            let refused = try Side.execute(etcdctl, ["snapshot", "status", damaged], stdin: nil)
            #expect(refused.exitCode == 1)
            #expect(refused.stderr.hasPrefix("Error: snapshot \(damaged) is corrupt"), "\(refused.stderr)")
        }
    }
}
