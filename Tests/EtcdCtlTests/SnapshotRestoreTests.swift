import Foundation
import Testing
import TestSupport

/// `etcdctl snapshot restore` of our saved snapshots: a new data directory per member, from which
/// our server starts a new cluster with the saved keys, history and leases.
@Suite(.serialized) struct SnapshotRestoreTests {
    /// Saves a snapshot of a member holding 30 keys (one deleted) and a leased key.
    static func savedSnapshot(in directory: TemporaryDirectory) async throws -> (path: String, revision: Int) {
        let server = try await EtcdMember.start(in: directory, executable: try builtExecutable("etcd"))
        let etcdctl = try oursEtcdctlPath()
        for index in 0..<30 {
            _ = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "put", "key/\(index)", "value-\(index)"], stdin: nil)
        }
        _ = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "del", "key/0"], stdin: nil)
        let grant = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "lease", "grant", "3600"], stdin: nil)
        let lease = String(grant.stdout.split(separator: " ")[1])
        _ = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "put", "leased", "x", "--lease", lease], stdin: nil)
        let path = directory.appending("backup.db")
        let saved = try Side.execute(etcdctl, ["--endpoints", server.clientEndpoint, "snapshot", "save", path], stdin: nil)
        #expect(saved.exitCode == 0, "\(saved.stderr)")
        await server.stop()
        // 30 puts, a delete and the leased put.
        return (path, 33)
    }

    /// Starts our etcd on a restored data directory (the ports its restore named) and waits for health.
    static func start(_ name: String, dataDir: String, clientPort: Int, peerPort: Int, initialCluster: String,
                      directory: TemporaryDirectory) throws -> ChildProcess {
        try ChildProcess(
            name: name, executable: try builtExecutable("etcd"),
            arguments: ["--name", name, "--data-dir", dataDir,
                        "--listen-client-urls", "http://127.0.0.1:\(clientPort)",
                        "--advertise-client-urls", "http://127.0.0.1:\(clientPort)",
                        "--listen-peer-urls", "http://127.0.0.1:\(peerPort)",
                        "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
                        "--initial-cluster", initialCluster],
            logPath: directory.appending("\(name).log"))
    }

    static func restore(_ snapshot: String, name: String, initialCluster: String, peerPort: Int, dataDir: String,
                        _ extra: [String] = []) throws -> ProcessResult {
        try Side.execute(try oursEtcdctlPath(), [
            "snapshot", "restore", snapshot, "--name", name, "--data-dir", dataDir,
            "--initial-cluster", initialCluster, "--initial-cluster-token", "restored",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
        ] + extra, stdin: nil)
    }

    @Test func threeMembersRestoredFromOneSnapshotFormANewCluster() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot-restore") { directory in
            let (snapshot, revision) = try await Self.savedSnapshot(in: directory)
            let ports = try FreePorts.allocate(6)
            let initialCluster = (0..<3).map { "m\($0 + 1)=http://127.0.0.1:\(ports[2 * $0 + 1])" }.joined(separator: ",")
            var processes: [ChildProcess] = []
            do {
                try await Self.checkRestoredCluster(snapshot: snapshot, revision: revision, ports: ports,
                                                    initialCluster: initialCluster, directory: directory,
                                                    processes: &processes)
            } catch {
                for process in processes { await process.stop() }
                throw error
            }
            for process in processes { await process.stop() }
        }
    }

    static func checkRestoredCluster(snapshot: String, revision: Int, ports: [Int], initialCluster: String,
                                     directory: TemporaryDirectory, processes: inout [ChildProcess]) async throws {
        for index in 0..<3 {
            let dataDir = directory.appending("m\(index + 1).etcd")
            let restored = try Self.restore(snapshot, name: "m\(index + 1)", initialCluster: initialCluster,
                                            peerPort: ports[2 * index + 1], dataDir: dataDir)
            #expect(restored.exitCode == 0, "\(restored.stderr)")
            #expect(restored.stderr.contains("\"msg\":\"restoring snapshot\""))
            #expect(restored.stderr.components(separatedBy: "\"msg\":\"added member\"").count == 4)
            #expect(restored.stderr.contains("\"msg\":\"restored snapshot\""))
            processes.append(try Self.start("m\(index + 1)", dataDir: dataDir, clientPort: ports[2 * index],
                                            peerPort: ports[2 * index + 1], initialCluster: initialCluster,
                                            directory: directory))
        }
        let endpoints = (0..<3).map { "127.0.0.1:\(ports[2 * $0])" }
        for (index, process) in processes.enumerated() {
            try await waitUntil("m\(index + 1) to be healthy") {
                try process.checkRunning()
                return try HTTPProbe.get(port: ports[2 * index], path: "/health").body.contains("\"health\":\"true\"")
            }
        }
        let etcdctl = try oursEtcdctlPath()
        let all = endpoints.joined(separator: ",")
        // The saved keys and revision, on every member; a new write continues the history.
        for endpoint in endpoints {
            let keys = try Side.execute(etcdctl, ["--endpoints", endpoint, "get", "key/", "--prefix", "--keys-only", "-w", "json"], stdin: nil)
            #expect(keys.stdout.contains("\"revision\":\(revision)"), "\(keys.stdout)")
            #expect(keys.stdout.contains("\"count\":29"), "\(keys.stdout)")
        }
        let leases = try Side.execute(etcdctl, ["--endpoints", all, "lease", "list"], stdin: nil)
        #expect(leases.stdout.hasPrefix("found 1 leases"), "\(leases)")
        #expect(try Side.execute(etcdctl, ["--endpoints", all, "put", "after", "restore"], stdin: nil).stdout == "OK\n")
        let members = try Side.execute(etcdctl, ["--endpoints", all, "member", "list"], stdin: nil)
        for index in 0..<3 {
            #expect(members.stdout.contains(", started, m\(index + 1), http://127.0.0.1:\(ports[2 * index + 1]), http://127.0.0.1:\(ports[2 * index]), false"),
                    "\(members.stdout)")
        }
        try await waitUntil("the restored members to agree on HashKV") {
            let hashes = try Side.execute(etcdctl, ["--endpoints", all, "endpoint", "hashkv"], stdin: nil)
            let values = Set(hashes.stdout.split(separator: "\n").map { $0.split(separator: ",").last ?? "" })
            return hashes.exitCode == 0 && values.count == 1
        }
    }

    @Test func restoreRefusesWhatItCannotTrust() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot-restore-refusals") { directory in
            let (snapshot, _) = try await Self.savedSnapshot(in: directory)
            let cluster = "default=http://127.0.0.1:2380"
            func restore(_ file: String, _ dataDir: String, _ extra: [String] = []) throws -> ProcessResult {
                try Side.execute(try oursEtcdctlPath(), [
                    "snapshot", "restore", file, "--data-dir", directory.appending(dataDir), "--initial-cluster", cluster,
                    "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                ] + extra, stdin: nil)
            }
            #expect(try restore(snapshot, "first").exitCode == 0)
            let again = try restore(snapshot, "first")
            #expect(again.exitCode == 1)
            #expect(again.stderr.hasSuffix("Error: data-dir \"\(directory.appending("first"))\" exists\n"), "\(again.stderr)")

            let bytes = try Data(contentsOf: URL(fileURLWithPath: snapshot))
            var flipped = bytes
            flipped[bytes.count / 2] ^= 0xff
            try flipped.write(to: URL(fileURLWithPath: directory.appending("flipped.db")))
            let damaged = try restore(directory.appending("flipped.db"), "damaged")
            #expect(damaged.exitCode == 1)
            #expect(damaged.stderr.contains("Error: expected sha256 ["), "\(damaged.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory.appending("damaged")))

            // A file copied from a data directory has no digest: refused unless --skip-hash-check.
            try bytes.prefix(bytes.count - 32).write(to: URL(fileURLWithPath: directory.appending("copied.db")))
            let unhashed = try restore(directory.appending("copied.db"), "unhashed")
            #expect(unhashed.stderr.contains("Error: snapshot missing hash but --skip-hash-check=false"), "\(unhashed.stderr)")
            #expect(try restore(directory.appending("copied.db"), "skipped", ["--skip-hash-check"]).exitCode == 0)

            let wrongPeer = try restore(snapshot, "wrong-peer", ["--initial-advertise-peer-urls", "http://127.0.0.1:9"])
            #expect(wrongPeer.stderr.contains("but missing from --initial-advertise-peer-urls"), "\(wrongPeer.stderr)")
        }
    }
}
