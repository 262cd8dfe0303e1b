import EtcdClient
import EtcdServer
import Foundation
import SnapshotFile

/// `etcdctl snapshot save`: the first endpoint's snapshot, streamed into `<path>.part`, synced, then
/// renamed to `<path>` so that a reader never sees a partial file.
enum SnapshotCommands {
    static func save(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("snapshot save expects one argument")
        }
        let path = invocation.arguments[0]
        let partial = path + ".part"
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CommandError.interrupted("could not open \(partial) (open \(partial): \(reason.lowercased()))")
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        let client = try invocation.client(endpoints: Array(invocation.endpoints.prefix(1)))
        let progress = isatty(2) != 0
        var received = 0
        do {
            for try await chunk in client.snapshot(endpoint: 0) {
                try file.write(contentsOf: chunk.blob)
                received += chunk.blob.count
                if progress {
                    let total = received + Int(chunk.remainingBytes)
                    let filled = total > 0 ? received * 40 / total : 40
                    FileHandle.standardError.write(Data(
                        "\r\(humanizeBytes(UInt64(received))) / \(humanizeBytes(UInt64(total))) [\(String(repeating: "=", count: filled))\(String(repeating: " ", count: 40 - filled))]".utf8))
                }
            }
            try file.synchronize()
            try file.close()
        } catch {
            await client.close()
            unlink(partial)
            throw CommandError.interrupted(failure(error).message)
        }
        await client.close()
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        guard rename(partial, path) == 0 else {
            throw CommandError.interrupted("could not rename \(partial) to \(path): \(String(cString: strerror(errno)))")
        }
        print("Snapshot saved at \(path)")
    }

    /// `etcdctl snapshot status <file>` for our SQLite snapshots: the content checksum, the store
    /// revision, the history records (etcd counts every key of its database) and the file size.
    /// The whole file is verified first, so a damaged snapshot fails here rather than at restore.
    static func status(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("snapshot status requires exactly one argument")
        }
        let path = invocation.arguments[0]
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandError.failed("stat \(path): no such file or directory")
        }
        let summary: SnapshotSummary
        do {
            summary = try SnapshotFile.summary(of: path)
        } catch {
            throw CommandError.failed("\(error)")
        }
        try invocation.display.snapshotStatus(hash: summary.hash, revision: summary.revision,
                                              totalKeys: summary.records, totalSize: Int64(summary.fileSize))
    }

    static let restoreFlags: [FlagSpec] = [
        .init(name: "data-dir", kind: .value, defaultValue: ""),
        .init(name: "wal-dir", kind: .value, defaultValue: ""),
        .init(name: "name", kind: .value, defaultValue: "default"),
        .init(name: "initial-cluster", kind: .value, defaultValue: "default=http://localhost:2380"),
        .init(name: "initial-cluster-token", kind: .value, defaultValue: "etcd-cluster"),
        .init(name: "initial-advertise-peer-urls", kind: .value, defaultValue: "http://localhost:2380"),
        .init(name: "skip-hash-check", kind: .bool, defaultValue: "false"),
    ]

    /// `etcdctl snapshot restore <file>`: a new member's data directory from one of our saved
    /// snapshots (see `SnapshotRestore`), logging to stderr in the JSON lines etcdctl 3.4 writes.
    static func restore(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("snapshot restore requires exactly one argument")
        }
        var options = SnapshotRestore.Options(snapshotPath: invocation.arguments[0])
        options.name = invocation.flags["name"]
        options.dataDir = invocation.flags["data-dir"]
        options.walDir = invocation.flags["wal-dir"]
        options.initialCluster = invocation.flags["initial-cluster"]
        options.token = invocation.flags["initial-cluster-token"]
        options.advertisedPeerURLs = invocation.flags["initial-advertise-peer-urls"].split(separator: ",").map(String.init)
        options.skipHashCheck = invocation.flags.bool("skip-hash-check")
        func paths(_ outcome: SnapshotRestore.Outcome) -> [(String, Any)] {
            [("path", options.snapshotPath), ("wal-dir", outcome.walDir), ("data-dir", outcome.dataDir),
             ("snap-dir", outcome.snapDir)]
        }
        let outcome: SnapshotRestore.Outcome
        do {
            outcome = try SnapshotRestore.restore(options) { outcome in
                log("snapshot/v3_snapshot.go:296", "restoring snapshot", paths(outcome))
            }
        } catch {
            throw CommandError.failed(error.description)
        }
        for member in outcome.members {
            log("membership/cluster.go:392", "added member", [
                ("cluster-id", String(outcome.clusterID, radix: 16)), ("local-member-id", "0"),
                ("added-peer-id", String(member.id, radix: 16)), ("added-peer-peer-urls", member.peerURLs),
            ])
        }
        log("snapshot/v3_snapshot.go:309", "restored snapshot", paths(outcome))
    }

    /// One zap-style JSON log line on stderr, as etcdctl's production logger writes them.
    private static func log(_ caller: String, _ message: String, _ fields: [(String, Any)]) {
        func quoted(_ text: String) -> String {
            let data = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
            return data.map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\(text)\""
        }
        var line = "{\"level\":\"info\",\"ts\":\(String(format: "%.9f", Date().timeIntervalSince1970)),\"caller\":\(quoted(caller)),\"msg\":\(quoted(message))"
        for (key, value) in fields {
            let rendered: String
            if let list = value as? [String] {
                rendered = "[" + list.map(quoted).joined(separator: ",") + "]"
            } else {
                rendered = quoted("\(value)")
            }
            line += ",\(quoted(key)):\(rendered)"
        }
        FileHandle.standardError.write(Data((line + "}\n").utf8))
    }
}
