// WAL durability throughput: 256-byte entries made durable per second by the group-committing
// front (GroupCommitLog) with 1, 16 and 256 concurrent proposers, next to the disk's raw
// write+fdatasync rate measured in the same run on the same file system.
//
// Run: swift run -c release WALBench [directory] [seconds per measurement]
import Foundation
import Raft
import WAL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = CommandLine.arguments
let baseDirectory = arguments.count > 1 ? arguments[1] : FileManager.default.currentDirectoryPath + "/.walbench"
let seconds = arguments.count > 2 ? Double(arguments[2]) ?? 3 : 3
let entrySize = 256

try? FileManager.default.removeItem(atPath: baseDirectory)
try FileManager.default.createDirectory(atPath: baseDirectory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: baseDirectory) }

/// The disk's own rate: 256-byte pwrite + fdatasync in a loop on a preallocated file.
func rawSyncRate() -> Double {
    let path = baseDirectory + "/raw"
    let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
    precondition(descriptor >= 0)
    defer { close(descriptor); unlink(path) }
    // Preallocated like a WAL segment, so both measurements sync data only.
    #if os(Linux)
    _ = posix_fallocate(descriptor, 0, 64 << 20)
    #else
    _ = ftruncate(descriptor, 64 << 20)
    #endif
    fsync(descriptor)
    let block = [UInt8](repeating: 0x5A, count: entrySize)
    let start = Date()
    var count = 0
    while Date().timeIntervalSince(start) < seconds {
        _ = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, entrySize, off_t(count * entrySize)) }
        #if os(Linux)
        fdatasync(descriptor)
        #else
        _ = fcntl(descriptor, F_FULLFSYNC)
        #endif
        count += 1
    }
    return Double(count) / Date().timeIntervalSince(start)
}

/// Durable entries per second with `proposers` concurrent appenders.
func groupCommitRate(proposers: Int) async throws -> (rate: Double, syncs: Int, entries: Int) {
    let directory = baseDirectory + "/wal-\(proposers)"
    let log = try WriteAheadLog.create(directory: directory, metadata: [1])
    let group = GroupCommitLog(log: log)
    let payload = [UInt8](repeating: 0xC3, count: entrySize)
    let deadline = Date().addingTimeInterval(seconds)
    let start = Date()
    let total = try await withThrowingTaskGroup(of: Int.self) { tasks in
        for _ in 0..<proposers {
            tasks.addTask {
                var count = 0
                while Date() < deadline {
                    try await group.append(term: 1, data: payload)
                    count += 1
                }
                return count
            }
        }
        var sum = 0
        for try await count in tasks { sum += count }
        return sum
    }
    let elapsed = Date().timeIntervalSince(start)
    let syncs = group.syncCount
    group.close()
    return (Double(total) / elapsed, syncs, total)
}

let raw = rawSyncRate()
print("WALBench: raw 256-byte pwrite+fdatasync: \(Int(raw))/s")
for proposers in [1, 16, 256] {
    let result = try await groupCommitRate(proposers: proposers)
    let perSync = Double(result.entries) / Double(max(result.syncs, 1))
    print("WALBench: \(proposers) proposers: \(Int(result.rate)) durable entries/s, "
          + "\(result.syncs) fdatasyncs, \(String(format: "%.1f", perSync)) entries per sync")
}
