import Foundation
import Raft
import Testing
@testable import WAL

/// A fresh directory under the system temporary directory, removed by `cleanup`.
struct TemporaryDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("wal-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func segmentPaths() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".wal") }.sorted().map { path + "/" + $0 }
    }
}

func makeEntries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 20) -> [Entry] {
    range.map { Entry(term: term, index: $0, data: [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: size)) }
}

/// The byte ranges of the records in a segment, in order.
func recordRanges(_ bytes: [UInt8]) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    var offset = 0
    while offset + WALRecordFormat.headerSize <= bytes.count {
        let length = bytes.withUnsafeBytes { Int(WALRecordFormat.load32($0, at: offset)) }
        if length == 0 && bytes[offset + 4] == 0 { break }
        let end = offset + WALRecordFormat.headerSize + length
        ranges.append(offset..<end)
        offset = end
    }
    return ranges
}

let smallSegments = WriteAheadLog.Options(segmentSize: 16 << 10)

@Suite struct WriteAheadLogTests {
    @Test func savedEntriesAndHardStateSurviveReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [1, 2, 3], options: smallSegments)
        try log.save(hardState: HardState(term: 1, vote: 1, commit: 3), entries: makeEntries(1...5))
        let (reopened, state) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
        #expect(state.metadata == [1, 2, 3])
        #expect(state.hardState == HardState(term: 1, vote: 1, commit: 3))
        #expect(state.entries == makeEntries(1...5))
        #expect(reopened.lastIndex == 5)
    }

    @Test func createRefusesAnExistingLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        #expect(throws: WALError.alreadyExists(directory: directory.path)) {
            try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        }
    }

    @Test func conflictingEntriesReplaceTheOldTail() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        try log.save(hardState: nil, entries: makeEntries(1...5, term: 1))
        try log.save(hardState: nil, entries: makeEntries(3...4, term: 2))
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
        #expect(state.entries == makeEntries(1...2, term: 1) + makeEntries(3...4, term: 2))
    }

    @Test func recoveryStartsAfterTheSnapshotMarker() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        try log.save(hardState: nil, entries: makeEntries(1...10))
        let marker = WALSnapshotMarker(index: 5, term: 1, confState: ConfState(voters: [1, 2, 3]))
        try log.saveSnapshotMarker(marker)
        var (_, state) = try WriteAheadLog.open(directory: directory.path, from: marker, options: smallSegments)
        #expect(state.entries.map(\.index) == Array(6...10))
        #expect(state.snapshot == marker)
        (_, state) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
        #expect(state.snapshot == marker)
        #expect(throws: WALError.snapshotNotFound(index: 7, term: 1)) {
            try WriteAheadLog.open(directory: directory.path, from: WALSnapshotMarker(index: 7, term: 1), options: smallSegments)
        }
    }

    @Test func snapshotFromTheLeaderRestartsTheLogAfterIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        try log.save(hardState: nil, entries: makeEntries(1...3))
        try log.saveSnapshotMarker(WALSnapshotMarker(index: 100, term: 4))
        try log.save(hardState: HardState(term: 4, commit: 100), entries: makeEntries(101...102, term: 4))
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
        #expect(state.entries.map(\.index) == [101, 102])
    }

    @Test func segmentsAreCutAndReleasedBehindSnapshots() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [7], options: smallSegments)
        for batch in 0..<40 {
            let first = UInt64(batch * 10 + 1)
            try log.save(hardState: HardState(term: 1, commit: first), entries: makeEntries(first...(first + 9), size: 100))
        }
        let segmentCount = log.segmentFileNames.count
        #expect(segmentCount >= 3)
        let marker = WALSnapshotMarker(index: 300, term: 1)
        try log.saveSnapshotMarker(marker)
        try log.releaseSegments(through: 300)
        #expect(log.segmentFileNames.count < segmentCount)
        #expect(try directory.segmentPaths().count == log.segmentFileNames.count)
        let (_, state) = try WriteAheadLog.open(directory: directory.path, from: marker, options: smallSegments)
        #expect(state.entries.map(\.index) == Array(301...400))
        #expect(state.hardState == HardState(term: 1, commit: 391))
        #expect(state.metadata == [7])
    }

    @Test func aMissingMiddleSegmentIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        for batch in 0..<40 {
            let first = UInt64(batch * 10 + 1)
            try log.save(hardState: nil, entries: makeEntries(first...(first + 9), size: 100), sync: false)
        }
        let paths = try directory.segmentPaths()
        #expect(paths.count >= 3)
        try FileManager.default.removeItem(atPath: paths[1])
        do {
            _ = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
            Issue.record("a log with a missing segment was opened")
        } catch WALError.corruption(_, _, let reason) {
            #expect(reason.contains("missing"))
        }
    }

    /// A crash can tear the last write at any byte: every such cut must reopen, keep every earlier
    /// record, and accept new appends afterwards.
    @Test(arguments: [false, true])
    func truncatingTheLastRecordAtEveryOffsetReopens(zeroFilled: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        try log.save(hardState: nil, entries: makeEntries(1...4))
        try log.save(hardState: nil, entries: makeEntries(5...5, size: 50))
        let path = try directory.segmentPaths()[0]
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let last = recordRanges(original).last!
        for cut in last.lowerBound..<last.upperBound {
            var damaged = Array(original[..<cut])
            if zeroFilled { damaged += [UInt8](repeating: 0, count: original.count - cut) }
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            let (reopened, state) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
            #expect(state.entries == makeEntries(1...4), "cut at \(cut)")
            try reopened.save(hardState: nil, entries: makeEntries(5...6, term: 2))
            let (_, again) = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
            #expect(again.entries == makeEntries(1...4) + makeEntries(5...6, term: 2), "cut at \(cut)")
        }
    }

    /// Damage before the last record is corruption, never a tail to cut: open must refuse and name
    /// the file and the record's offset.
    @Test func bitFlipsBeforeTheTailAreRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [9], options: smallSegments)
        for index in UInt64(1)...6 { try log.save(hardState: HardState(term: 1, commit: index), entries: makeEntries(index...index)) }
        let path = try directory.segmentPaths()[0]
        let fileName = URL(fileURLWithPath: path).lastPathComponent
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let records = recordRanges(original)
        var refused = 0
        for record in records.dropLast() {
            for position in stride(from: record.lowerBound, to: record.upperBound, by: 3) {
                var damaged = original
                damaged[position] ^= 0x10
                try Data(damaged).write(to: URL(fileURLWithPath: path))
                do {
                    _ = try WriteAheadLog.open(directory: directory.path, options: smallSegments)
                    Issue.record("bit flip at \(position) was not detected")
                } catch let WALError.corruption(file, offset, _) {
                    #expect(file == fileName)
                    #expect(offset == record.lowerBound, "flip at \(position)")
                    refused += 1
                }
            }
        }
        #expect(refused > 100)
    }

    @Test func garbageAfterTheEndOfTheLogIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: smallSegments)
        try log.save(hardState: nil, entries: makeEntries(1...3))
        let path = try directory.segmentPaths()[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let end = recordRanges(bytes).last!.upperBound
        bytes[end + 100] = 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: WALError.self) { try WriteAheadLog.open(directory: directory.path, options: smallSegments) }
    }

    @Test func thousandsOfAppendReopenCycles() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = WriteAheadLog.Options(segmentSize: 16 << 10)
        _ = try WriteAheadLog.create(directory: directory.path, metadata: [1], options: options)
        var expectedLast: UInt64 = 0
        for cycle in 0..<2_000 {
            let (log, state) = try WriteAheadLog.open(directory: directory.path, options: options)
            guard state.entries.last?.index ?? 0 == expectedLast || state.snapshot != nil else {
                Issue.record("cycle \(cycle): expected last index \(expectedLast), found \(state.entries.last?.index ?? 0)")
                return
            }
            let first = expectedLast + 1
            // Durability is not what this test checks (reopening reads the page cache): skip the
            // fdatasync to keep thousands of cycles fast.
            try log.save(hardState: HardState(term: 1, commit: first), entries: makeEntries(first...(first + 1), size: 64), sync: false)
            expectedLast = first + 1
            if cycle % 100 == 99 {
                let marker = WALSnapshotMarker(index: expectedLast - 10, term: 1)
                try log.saveSnapshotMarker(marker)
                try log.releaseSegments(through: marker.index)
            }
        }
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(state.entries.last?.index == expectedLast)
        #expect(state.entries.first?.index == (state.snapshot?.index ?? 0) + 1)
    }

    @Test func concurrentAppendersShareSyncs() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: WriteAheadLog.Options(segmentSize: 1 << 20))
        let group = GroupCommitLog(log: log)
        let indexes = try await withThrowingTaskGroup(of: UInt64.self) { tasks in
            for proposer in 0..<32 {
                tasks.addTask {
                    var mine: [UInt64] = []
                    for round in 0..<20 { mine.append(try await group.append(term: 1, data: [UInt8(proposer), UInt8(round)])) }
                    return mine.last!
                }
            }
            var all: [UInt64] = []
            for try await index in tasks { all.append(index) }
            return all
        }
        #expect(indexes.count == 32)
        let syncs = group.syncCount
        group.close()
        #expect(syncs < 640)
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: WriteAheadLog.Options(segmentSize: 1 << 20))
        #expect(state.entries.map(\.index) == Array(1...640))
        await #expect(throws: WALError.closed) { try await group.append(term: 1, data: []) }
    }
}
