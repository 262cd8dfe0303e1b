import EtcdClient
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
}
