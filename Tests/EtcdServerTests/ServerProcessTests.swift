import EtcdClient
import Foundation
import Raft
import Synchronization
import Testing
import TestSupport

/// Our `etcd` as a process on loopback: its HTTP endpoints, restarts (clean and SIGKILL), snapshots
/// and damaged data directories.
@Suite(.serialized) struct ServerProcessTests {
    static func startOurs(in directory: TemporaryDirectory, _ arguments: [String] = []) async throws -> EtcdMember {
        try await EtcdMember.start(in: directory, executable: try builtExecutable("etcd"), extraArguments: arguments)
    }

    static func client(_ member: EtcdMember) throws -> EtcdClient {
        var configuration = EtcdClient.Configuration()
        configuration.requestTimeout = .seconds(10)
        return try EtcdClient(endpoints: [member.clientEndpoint], configuration: configuration)
    }

    @Test func httpEndpointsAnswerOnTheClientPort() async throws {
        try await TemporaryDirectory.with(prefix: "ours-http") { directory in
            let member = try await Self.startOurs(in: directory)
            let health = try HTTPProbe.get(port: member.clientPort, path: "/health")
            #expect(health.status == 200)
            #expect(health.body == "{\"health\":\"true\"}")
            let version = try HTTPProbe.get(port: member.clientPort, path: "/version")
            #expect(version.body == "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}")
            let client = try Self.client(member)
            try await client.put("k", "v")
            await client.close()
            let metrics = try HTTPProbe.get(port: member.clientPort, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("\netcd_server_has_leader 1\n"))
            #expect(metrics.body.contains("\netcd_mvcc_put_total 1\n"))
            #expect(metrics.body.contains("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1"))
            #expect(metrics.body.contains("etcd_disk_wal_fsync_duration_seconds_count"))
            let missing = try HTTPProbe.get(port: member.clientPort, path: "/nothing")
            #expect(missing.status == 404)
            await member.stop()
        }
    }

    @Test func cleanRestartKeepsKeysLeasesAndRevision() async throws {
        try await TemporaryDirectory.with(prefix: "ours-restart") { directory in
            let member = try await Self.startOurs(in: directory)
            var client = try Self.client(member)
            for index in 0..<100 { try await client.put("key/\(index)", "value-\(index)") }
            try await client.delete("key/7")
            let lease = try await client.grantLease(ttl: 600)
            try await client.put("leased", "x", .lease(lease.id))
            let before = try await client.get("key/", .prefix)
            await client.close()
            // Like etcd: finish, sync, then die of the same signal (so a supervisor sees SIGTERM).
            let status = await member.process.stop()
            #expect(status & 0x7f == SIGTERM, "exit status \(status)")
            #expect(member.process.logTail(lines: 5).contains("stopped serving; WAL synced"))

            let restarted = try await member.restarted()
            client = try Self.client(restarted)
            let after = try await client.get("key/", .prefix)
            #expect(after.kvs == before.kvs)
            #expect(after.header.revision == before.header.revision)
            let ttl = try await client.leaseTimeToLive(lease.id, keys: true)
            #expect(ttl.grantedTtl == 600)
            #expect(ttl.ttl > 500 && ttl.ttl <= 600)
            #expect(ttl.keys.map { String(decoding: $0, as: UTF8.self) } == ["leased"])
            await client.close()
            await restarted.stop()
        }
    }

    /// https peer URLs with `--peer-auto-tls`: the member makes a self-signed certificate for its
    /// peer hosts at start-up (as etcd does), keeps it across restarts, and serves clients.
    @Test func peerAutoTLSMakesACertificate() async throws {
        try await TemporaryDirectory.with(prefix: "ours-peer-tls") { directory in
            let port = try FreePorts.allocate(1)[0]
            let peer = "https://127.0.0.1:\(port)"
            // Later flags win, as with Go's flag package.
            let member = try await Self.startOurs(in: directory, [
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "default=\(peer)", "--peer-auto-tls",
            ])
            let certificate = member.dataDir + "/fixtures/peer/cert.pem"
            let text = try runProcess("/usr/bin/openssl", ["x509", "-in", certificate, "-noout", "-text"]).stdout
            #expect(text.contains("IP Address:127.0.0.1"), "\(text)")
            #expect(text.contains("TLS Web Server Authentication"))
            let before = try Data(contentsOf: URL(fileURLWithPath: certificate))
            let members = try runProcess("/usr/bin/etcdctl", ["--endpoints", member.clientEndpoint, "member", "list"],
                                         environment: ["ETCDCTL_API": "3"])
            #expect(members.stdout.contains(peer))
            await member.stop()
            let restarted = try await member.restarted()
            #expect(try Data(contentsOf: URL(fileURLWithPath: certificate)) == before)
            await restarted.stop()
        }
    }

    /// Clients that vanish mid-stream (killed watchers, a dropped keep-alive) leave no watcher
    /// behind on the server.
    @Test func vanishedClientsLeakNoWatchers() async throws {
        try await TemporaryDirectory.with(prefix: "ours-watch-leak") { directory in
            let member = try await Self.startOurs(in: directory)
            func watchers() throws -> Int {
                let metrics = try HTTPProbe.get(port: member.clientPort, path: "/metrics").body
                let line = metrics.split(separator: "\n").first { $0.hasPrefix("etcd_debugging_mvcc_watcher_total ") }
                return Int(line?.split(separator: " ").last ?? "") ?? -1
            }
            let watchersProcesses = try (0..<4).map { index in
                try ChildProcess(name: "watch-\(index)", executable: "/usr/bin/etcdctl",
                                 arguments: ["--endpoints", member.clientEndpoint, "watch", "--prefix", "k"],
                                 logPath: directory.appending("watch-\(index).log"))
            }
            try await waitUntil("four watchers") { try watchers() == 4 }
            for process in watchersProcesses { process.send(SIGKILL) }
            for process in watchersProcesses { _ = await process.stop(grace: .seconds(1)) }
            try await waitUntil("the watchers to be gone") { try watchers() == 0 }
            await member.stop()
        }
    }

    /// A Go watcher (etcdctl, which pings the server for bandwidth estimates while data flows)
    /// receives a burst of 1,000 events on one stream: every event arrives, in order of puts, and
    /// the stream stays up.
    @Test func goWatcherReceivesABurstOfEvents() async throws {
        try await TemporaryDirectory.with(prefix: "ours-go-pings") { directory in
            let member = try await Self.startOurs(in: directory)
            let logPath = directory.appending("watch.log")
            let watcher = try ChildProcess(name: "watch", executable: "/usr/bin/etcdctl",
                                           arguments: ["--endpoints", member.clientEndpoint, "watch", "--prefix", "w/"],
                                           logPath: logPath)
            let client = try Self.client(member)
            try await waitUntil("the watch to start") { member.process.isRunning && watcher.isRunning }
            try await Task.sleep(for: .milliseconds(500))
            for index in 0..<1000 { try await client.put("w/\(index)", "v") }
            func seen() -> Int {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0 == "PUT" }.count
            }
            try await waitUntil("all 1000 events at the Go watcher", timeout: .seconds(30)) { seen() == 1000 }
            #expect(watcher.isRunning, "etcdctl watch ended: \(watcher.logTail())")
            _ = await watcher.stop()
            await client.close()
            await member.stop()
        }
    }

    /// Start-up configurations that cannot work end at once with the reason: joining a cluster no
    /// peer of which answers, joining one that does not list this member, https peer URLs
    /// without certificates.
    @Test func impossibleClusterConfigurationsAreRefusedPlainly() async throws {
        try await TemporaryDirectory.with(prefix: "ours-cluster-refused") { directory in
            let etcd = try builtExecutable("etcd")
            let member = try await Self.startOurs(in: directory)
            let ports = try FreePorts.allocate(3)
            func join(_ initialCluster: String, name: String = "x", _ extra: [String] = []) throws -> ProcessResult {
                try runProcess("/usr/bin/timeout", [
                    "30", etcd, "--name", name, "--data-dir", directory.appending("\(name)-\(extra.count).etcd"),
                    "--listen-client-urls", "http://127.0.0.1:\(ports[0])", "--advertise-client-urls", "http://127.0.0.1:\(ports[0])",
                    "--listen-peer-urls", "http://127.0.0.1:\(ports[1])", "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports[1])",
                    "--initial-cluster", initialCluster, "--initial-cluster-state", "existing",
                ] + extra)
            }
            let nobody = try join("x=http://127.0.0.1:\(ports[1]),y=http://127.0.0.1:\(ports[2])")
            #expect(nobody.exitCode == 1)
            #expect(nobody.stderr.contains("cannot fetch cluster info from peer urls"), "\(nobody.stderr)")
            let notAdded = try join("default=http://127.0.0.1:\(member.peerPort),x=http://127.0.0.1:\(ports[1])")
            #expect(notAdded.exitCode == 1)
            #expect(notAdded.stderr.contains("no member of cluster"), "\(notAdded.stderr)")
            #expect(notAdded.stderr.contains("etcdctl member add x --peer-urls=http://127.0.0.1:\(ports[1])"))
            let https = "https://127.0.0.1:\(ports[1])"
            let noCertificates = try join("x=\(https)", ["--listen-peer-urls", https, "--initial-advertise-peer-urls", https,
                                                         "--initial-cluster-state", "new"])
            #expect(noCertificates.exitCode == 1)
            #expect(noCertificates.stderr.contains("TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url \(https) with HTTPS scheme"),
                    "\(noCertificates.stderr)")
            let clientHTTPS = "https://127.0.0.1:\(ports[0])"
            let noClientCertificates = try join("x=http://127.0.0.1:\(ports[1])", [
                "--listen-client-urls", clientHTTPS, "--advertise-client-urls", clientHTTPS, "--initial-cluster-state", "new"])
            #expect(noClientCertificates.exitCode == 1)
            #expect(noClientCertificates.stderr.contains("TLS key/cert (--cert-file, --key-file) must be provided for client url \(clientHTTPS) with HTTPS scheme"),
                    "\(noClientCertificates.stderr)")
            // A certificate check this server does not make is refused, not skipped.
            let revocations = try join("x=http://127.0.0.1:\(ports[1])", ["--auto-tls", "--client-crl-file", "revoked.crl",
                                                                          "--initial-cluster-state", "new"])
            #expect(revocations.exitCode == 1)
            #expect(revocations.stderr.contains("--client-crl-file is not supported by this server yet"), "\(revocations.stderr)")
            await member.stop()
        }
    }

    /// An expired lease is revoked through Raft: its keys go in one revision, watchers see the
    /// deletions, and the lease is gone.
    @Test func expiredLeaseIsRevokedWithItsKeys() async throws {
        try await TemporaryDirectory.with(prefix: "ours-lease-expiry") { directory in
            let member = try await Self.startOurs(in: directory)
            let client = try Self.client(member)
            let lease = try await client.grantLease(ttl: 2)
            #expect(lease.ttl == 2)
            try await client.put("held/a", "1", .lease(lease.id))
            let last = try await client.put("held/b", "2", .lease(lease.id))
            let deletions = Task {
                var keys: [String] = []
                for try await response in client.watch("held/", .prefix, .startRevision(last.header.revision + 1)) {
                    keys += response.events.filter { $0.type == .delete }.map { String(decoding: $0.kv.key, as: UTF8.self) }
                    if keys.count == 2 { return (keys, response.header.revision) }
                }
                return (keys, 0)
            }
            try await waitUntil("the lease to expire", timeout: .seconds(15)) {
                try await client.get("held/", .prefix).kvs.isEmpty
            }
            let (keys, revision) = try await deletions.value
            #expect(keys == ["held/a", "held/b"])
            #expect(revision == last.header.revision + 1)
            #expect(try await client.leaseTimeToLive(lease.id).ttl == -1)
            await client.close()
            await member.stop()
        }
    }

    /// The leader checkpoints remaining TTLs through Raft (every 5 s), so a lease's clock does not
    /// restart from its full TTL after a crash.
    @Test func remainingTTLSurvivesSIGKILL() async throws {
        try await TemporaryDirectory.with(prefix: "ours-lease-checkpoint") { directory in
            let member = try await Self.startOurs(in: directory)
            var client = try Self.client(member)
            let lease = try await client.grantLease(ttl: 60)
            // Long enough for a checkpoint at least 5 s after the grant.
            try await Task.sleep(for: .milliseconds(10_500))
            await client.close()
            member.process.send(SIGKILL)
            _ = await member.process.stop(grace: .seconds(1))
            let restarted = try await member.restarted()
            client = try Self.client(restarted)
            let ttl = try await client.leaseTimeToLive(lease.id)
            #expect(ttl.grantedTtl == 60)
            #expect(ttl.ttl > 30 && ttl.ttl <= 55, "remaining TTL \(ttl.ttl) after the restart")
            await client.close()
            await restarted.stop()
        }
    }

    /// SIGKILL at random moments under concurrent writers: after each restart every acknowledged
    /// write is there, and nothing is half-applied (each put of a fresh key advances the revision by
    /// exactly one, so the revision counts the keys present).
    @Test func sigkillUnderConcurrentWritesLosesNothingAcknowledged() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["KILL_TEST_ROUNDS"] ?? "") ?? 3
        let seed = UInt64(ProcessInfo.processInfo.environment["KILL_TEST_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        var random = SeededRandomNumberGenerator(seed: seed)
        try await TemporaryDirectory.with(prefix: "ours-kill") { directory in
            var member = try await Self.startOurs(in: directory)
            let acknowledged = AcknowledgedKeys()
            for round in 0..<rounds {
                let client = try Self.client(member)
                let writers = (0..<8).map { writer in
                    Task {
                        var index = 0
                        while !Task.isCancelled {
                            let key = "r\(round)/w\(writer)/\(index)"
                            do {
                                try await client.put(key, key)
                                acknowledged.keys.withLock { $0.append(key) }
                            } catch {
                                return
                            }
                            index += 1
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(200 + Int(random.next() % 800)))
                member.process.send(SIGKILL)
                _ = await member.process.stop(grace: .seconds(1))
                for writer in writers { writer.cancel() }
                for writer in writers { await writer.value }
                await client.close()

                member = try await member.restarted()
                let check = try Self.client(member)
                let all = try await check.get("r", .prefix)
                let present = Dictionary(uniqueKeysWithValues: all.kvs.map {
                    (String(decoding: $0.key, as: UTF8.self), String(decoding: $0.value, as: UTF8.self))
                })
                let expected = acknowledged.keys.withLock { $0 }
                let lost = expected.filter { present[$0] != $0 }
                #expect(lost.isEmpty, "seed \(seed) round \(round): \(lost.count) acknowledged writes lost, e.g. \(lost.prefix(3))")
                #expect(present.allSatisfy { $0.key == $0.value }, "seed \(seed): a value differs from its key")
                #expect(all.header.revision == Int64(present.count) + 1,
                        "seed \(seed) round \(round): revision \(all.header.revision) with \(present.count) keys")
                await check.close()
            }
            await member.stop()
        }
    }

    /// With a low `--snapshot-count` the member writes SQLite snapshots that `sqlite3` can read,
    /// and restarts from the newest one plus the WAL after it.
    @Test func snapshotsAreReadableAndRestartUsesThem() async throws {
        try await TemporaryDirectory.with(prefix: "ours-snapshot") { directory in
            let member = try await Self.startOurs(in: directory, ["--snapshot-count", "100"])
            var client = try Self.client(member)
            var written = 0
            func put() async throws {
                try await client.put(String(format: "k%04d", written), "v\(written)")
                written += 1
            }
            while written < 350 { try await put() }
            try await client.compact(200)
            let snapDirectory = member.dataDir + "/member/snap"
            func snapshotFiles() -> Int {
                ((try? FileManager.default.contentsOfDirectory(atPath: snapDirectory)) ?? [])
                    .filter { $0.hasSuffix(".snap.db") }.count
            }
            // A snapshot falls due while the previous one is still being written on a loaded
            // machine; it then comes some entries later, so a few more writes may be needed.
            try await waitUntil("three snapshots") {
                if snapshotFiles() >= 3 { return true }
                if written < 1000 { try await put() }
                return false
            }
            await client.close()
            let newest = try #require(try FileManager.default.contentsOfDirectory(atPath: snapDirectory)
                .filter { $0.hasSuffix(".snap.db") }.max())
            let listed = try runProcess("/usr/bin/sqlite3", [snapDirectory + "/" + newest,
                                                             "select cast(key as text) from live_kv order by key limit 2"]).stdout
            #expect(listed == "k0000\nk0001\n")
            await member.stop()

            let restarted = try await member.restarted()
            client = try Self.client(restarted)
            let all = try await client.get("k", .prefix, .countOnly)
            #expect(all.count == Int64(written))
            #expect(all.header.revision == Int64(written) + 1)
            await #expect(throws: EtcdError.self) { try await client.get("k0001", .revision(100)) }
            await client.close()
            await restarted.stop()
        }
    }

    /// Defragment gives the space of compacted history back: a fresh snapshot holds only what
    /// compaction kept and the WAL before it goes; the data survives a restart.
    @Test func defragmentShrinksTheDatabase() async throws {
        try await TemporaryDirectory.with(prefix: "ours-defrag") { directory in
            let member = try await Self.startOurs(in: directory)
            var client = try Self.client(member)
            let value = String(repeating: "v", count: 1000)
            for index in 0..<1000 { try await client.put("k\(index % 10)", value) }
            let last = try await client.put("k0", "final")
            try await client.compact(last.header.revision)
            let before = try await client.status(endpoint: 0)
            try await client.defragment(endpoint: 0)
            let after = try await client.status(endpoint: 0)
            #expect(after.dbSize < before.dbSize / 4, "db size \(before.dbSize) → \(after.dbSize)")
            #expect(after.dbSizeInUse < before.dbSizeInUse || before.dbSizeInUse < 20_000)
            await client.close()
            await member.stop()
            let restarted = try await member.restarted()
            client = try Self.client(restarted)
            let all = try await client.get("k", .prefix)
            #expect(all.kvs.count == 10)
            #expect(all.header.revision == last.header.revision)
            #expect(String(decoding: all.kvs[0].value, as: UTF8.self) == "final")
            await client.close()
            await restarted.stop()
        }
    }

    /// `--auto-compaction-mode periodic` keeps the last retention period of history: older
    /// revisions become unreadable on their own, newer ones stay.
    @Test func periodicAutoCompactionCompactsOldRevisions() async throws {
        try await TemporaryDirectory.with(prefix: "ours-auto-compaction") { directory in
            let member = try await Self.startOurs(in: directory, ["--auto-compaction-mode", "periodic",
                                                                  "--auto-compaction-retention", "2s"])
            let client = try Self.client(member)
            let first = try await client.put("k", "old")
            try await waitUntil("revision \(first.header.revision) to be compacted", timeout: .seconds(20)) {
                _ = try await client.put("k", "new")
                do {
                    _ = try await client.get("k", .revision(first.header.revision))
                    return false
                } catch let error as EtcdError where error.code == .compacted {
                    return true
                }
            }
            let latest = try await client.get("k")
            #expect(try await client.get("k", .revision(latest.header.revision)).kvs.first?.value == Data("new".utf8))
            await client.close()
            await member.stop()
        }
    }

    /// A torn last WAL record (a crash mid-write) is cut off at restart; what was synced stays.
    @Test func tornWALTailIsRepaired() async throws {
        try await TemporaryDirectory.with(prefix: "ours-torn") { directory in
            let member = try await Self.startOurs(in: directory)
            var client = try Self.client(member)
            for index in 0..<20 { try await client.put("k\(index)", "v\(index)") }
            await client.close()
            await member.stop()
            let walDirectory = member.dataDir + "/member/wal"
            let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: walDirectory)
                .filter { $0.hasSuffix(".wal") }.max())
            let handle = try #require(FileHandle(forUpdatingAtPath: walDirectory + "/" + segment))
            let contents = try handle.readToEnd() ?? Data()
            let end = (contents.lastIndex { $0 != 0 } ?? 0) + 1
            // Half a record header of garbage right after the last record.
            try handle.seek(toOffset: UInt64(end))
            handle.write(Data([0x21, 0x00, 0x00, 0x00, 0x01, 0xde, 0xad]))
            try handle.close()

            let restarted = try await member.restarted()
            client = try Self.client(restarted)
            #expect(try await client.get("k", .prefix, .countOnly).count == 20)
            try await client.put("after", "repair")
            await client.close()
            await restarted.stop()
        }
    }

    /// A corrupt newest snapshot is skipped for the previous one (the WAL still has the entries
    /// after it); the member says so in its log and loses nothing.
    @Test func corruptNewestSnapshotFallsBackToThePreviousOne() async throws {
        try await TemporaryDirectory.with(prefix: "ours-corrupt-snap") { directory in
            let member = try await Self.startOurs(in: directory, ["--snapshot-count", "50"])
            var client = try Self.client(member)
            for index in 0..<180 { try await client.put("k\(index)", "v\(index)") }
            await client.close()
            await member.stop()
            let snapDirectory = member.dataDir + "/member/snap"
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: snapDirectory)
                .filter { $0.hasSuffix(".snap.db") }.sorted()
            #expect(snapshots.count >= 2)
            let newest = snapDirectory + "/" + snapshots.last!
            // Cut in half, as a crash or a full disk could leave it (bytes flipped in free pages
            // would be harmless, so they would not show the fallback).
            let handle = try #require(FileHandle(forUpdatingAtPath: newest))
            let size = try handle.seekToEnd()
            try handle.truncate(atOffset: size / 2)
            try handle.close()

            let restarted = try await member.restarted()
            #expect(restarted.process.logTail(lines: 200).contains("skipping unusable snapshot"))
            client = try Self.client(restarted)
            let all = try await client.get("k", .prefix, .countOnly)
            #expect(all.count == 180)
            #expect(all.header.revision == 181)
            await client.close()
            await restarted.stop()
        }
    }

}

/// Keys whose puts were acknowledged, shared by the writer tasks.
final class AcknowledgedKeys: Sendable {
    let keys = Mutex<[String]>([])
}

