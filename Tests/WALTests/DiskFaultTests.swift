import Foundation
import Raft
import Testing
@testable import WAL

/// The disk faults the server's failpoints switch on, seen from the log itself. (The torn write
/// ends the process, so the fault harness tests it with real members.)
@Suite struct DiskFaultTests {
    static func options(_ configure: (inout WriteAheadLog.DiskFaults) -> Void, syncs: Bool = true) -> WriteAheadLog.Options {
        var faults = WriteAheadLog.DiskFaults()
        configure(&faults)
        return WriteAheadLog.Options(segmentSize: 1 << 20, syncs: syncs, faults: faults)
    }

    /// With writes held until a sync, closing the log without one (as a SIGKILL would) loses what
    /// was not synced, and only that.
    @Test func unsyncedWritesAreLostWhenTheLogGoesAwayWithoutASync() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = Self.options { $0.unsyncedWritesLostOnKill = true }
        do {
            let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: options)
            try log.save(hardState: HardState(term: 1, commit: 2), entries: makeEntries(1...3), sync: true)
            try log.save(hardState: nil, entries: makeEntries(4...6), sync: false)
        }
        let (log, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(state.entries == makeEntries(1...3))
        #expect(state.hardState == HardState(term: 1, commit: 2))
        // The log goes on from the synced end.
        try log.save(hardState: nil, entries: makeEntries(4...5, term: 2), sync: true)
        let (_, again) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(again.entries == makeEntries(1...3) + makeEntries(4...5, term: 2))
    }

    /// Past the writeback threshold, unsynced writes reach the file (not lost), as an OS writes
    /// dirty pages back on its own.
    @Test func unsyncedWritesPastTheWritebackThresholdReachTheFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = Self.options { $0.unsyncedWritesLostOnKill = true }
        do {
            let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: options)
            for index in UInt64(1)...100 {
                try log.save(hardState: nil, entries: makeEntries(index...index, size: 4096), sync: false)
            }
        }
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(state.entries.count >= 60, "only \(state.entries.count) of 100 unsynced 4 KiB entries were written back")
        #expect(state.entries.count < 100)
        #expect(state.entries == makeEntries(1...UInt64(state.entries.count), size: 4096))
    }

    /// A write that waited longer than a second goes to the file when the next write comes, as
    /// an OS writes old dirty pages back: a power failure loses only the recent past.
    @Test func unsyncedWritesOlderThanASecondAreWrittenBack() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = Self.options { $0.unsyncedWritesLostOnKill = true }
        do {
            let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: options)
            try log.save(hardState: nil, entries: makeEntries(1...2), sync: false)
            Thread.sleep(forTimeInterval: 1.2)
            try log.save(hardState: nil, entries: makeEntries(3...4), sync: false)
        }
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(state.entries == makeEntries(1...2))
    }

    /// `--unsafe-no-fsync` under the same simulated power failure: a save that asked for a sync
    /// is lost too. This is the bug the fault harness must catch.
    @Test func withoutFsyncEvenSyncedSavesAreLost() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = Self.options({ $0.unsyncedWritesLostOnKill = true }, syncs: false)
        do {
            let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: options)
            try log.save(hardState: HardState(term: 1, commit: 3), entries: makeEntries(1...3), sync: true)
        }
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(state.entries.isEmpty)
        #expect(state.hardState == HardState())
        // A server that stops cleanly calls `sync()`, which then hands what it has to the OS.
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            try log.save(hardState: nil, entries: makeEntries(1...2), sync: true)
            try log.sync()
        }
        let (_, stopped) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(stopped.entries == makeEntries(1...2))
    }

    /// The `n`th sync fails; the log then refuses every later write, since what reached the disk
    /// is unknown.
    @Test func aFailedSyncClosesTheLog() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = Self.options { $0.failSync = 3 }
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [], options: options)
        try log.save(hardState: nil, entries: makeEntries(1...1))
        try log.save(hardState: nil, entries: makeEntries(2...2))
        #expect(throws: WALError.self) { try log.save(hardState: nil, entries: makeEntries(3...3)) }
        #expect(throws: WALError.closed) { try log.save(hardState: nil, entries: makeEntries(4...4)) }
        #expect(throws: WALError.closed) { try log.sync() }
        let (_, state) = try WriteAheadLog.open(directory: directory.path, options: Self.options { _ in })
        #expect(state.entries.prefix(2) == makeEntries(1...2)[...])
    }
}
