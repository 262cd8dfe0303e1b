import BTreeStore
import SnapshotFile
import Foundation
import Testing
import TestSupport

@Suite struct SnapshotFileTests {
    // MARK: Round trips

    @Test func roundTripsEveryField() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let contents = try Self.sampleContents()
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(contents, to: path)
            let read = try SnapshotFile.read(from: path)
            #expect(read == Self.canonical(contents))
            #expect(read.store.records.contains { $0.isTombstone })
            #expect(read.store.compactRevision > 0)

            // The history restores a store that hashes like the original (etcd's HashKV).
            let original = MVCCStore(importing: contents.store).readViews.current()
            let restored = MVCCStore(importing: read.store).readViews.current()
            #expect(try restored.hashKV(revision: 0).hash == original.hashKV(revision: 0).hash)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        }
    }

    @Test func roundTripsAnEmptySnapshot() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let empty = SnapshotContents(
                index: 0, term: 0, voters: [], learners: [], clusterID: 0, members: [],
                store: MVCCSnapshot(currentRevision: 1, compactRevision: -1, records: []), leases: [], alarms: [])
            let path = directory.appending("empty.snap.db")
            try SnapshotFile.write(empty, to: path)
            #expect(try SnapshotFile.read(from: path) == empty)
            let summary = try SnapshotFile.summary(of: path)
            #expect(summary.totalKeys == 0 && summary.records == 0 && summary.revision == 1)
        }
    }

    @Test func overwritesAnExistingSnapshotAndAStaleTemporaryFile() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            try Data("junk from an interrupted write".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
            let first = try Self.sampleContents()
            try SnapshotFile.write(first, to: path)
            var second = first
            second.index += 1
            second.store.records.removeLast()
            try SnapshotFile.write(second, to: path)
            #expect(try SnapshotFile.read(from: path) == Self.canonical(second))
        }
    }

    @Test func toleratesTheHashThatEtcdsSnapshotStreamAppends() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let contents = try Self.sampleContents()
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(contents, to: path)
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((0..<32).map { UInt8($0 * 7 + 1) }))
            try handle.close()
            #expect(try SnapshotFile.read(from: path) == Self.canonical(contents))
            #expect(try SnapshotFile.summary(of: path).fileSize % 4096 == 32)
        }
    }

    // MARK: The file as sqlite3 sees it

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func sqlite3ListsTheLiveKeySpace() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let contents = try Self.sampleContents()
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(contents, to: path)

            let listed = try Self.sqlite3(path, "select cast(key as text), cast(value as text) from live_kv order by key")
            let store = MVCCStore(importing: contents.store)
            let live = try store.range(RangeRequest(key: [0], rangeEnd: [0])).kvs
            #expect(!live.isEmpty)
            #expect(listed == live.map { "\(String(decoding: $0.key, as: UTF8.self))|\(String(decoding: $0.value, as: UTF8.self))\n" }.joined())
            let meta = try Self.sqlite3(path, "select value from meta where name in ('format_version', 'index', 'term') order by name")
            #expect(meta == "1\n\(Int64(bitPattern: contents.index))\n\(contents.term)\n")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func anEditThatSQLiteAcceptsFailsTheChecksum() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(try Self.sampleContents(), to: path)
            _ = try Self.sqlite3(path, "update kv set value = x'00' where main = (select max(main) from kv)")
            Self.expectCorrupt(path, containing: "checksum")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func refusesANewerFormat() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(try Self.sampleContents(), to: path)
            _ = try Self.sqlite3(path, "update meta set value = 2 where name = 'format_version'")
            let error = #expect(throws: SnapshotError.self) { try SnapshotFile.read(from: path) }
            guard case .unsupportedFormat(path, 2)? = error else {
                Issue.record("expected unsupportedFormat, got \(String(describing: error))")
                return
            }
            #expect("\(error!)".contains("format version 2"))
        }
    }

    // MARK: Damage

    @Test func aFlippedByteInAValueIsCorrupt() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            let contents = try Self.largeContents(records: 2_000)
            try SnapshotFile.write(contents, to: path)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            // A value in the middle of the history, found by its bytes: SQLite never checks row content.
            let value = contents.store.records[1_000].kv.value
            let offset = try #require(Self.firstOffset(of: value, in: bytes))
            bytes[offset + value.count / 2] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            Self.expectCorrupt(path, containing: "checksum")
        }
    }

    /// Flips one byte at a time across the whole file: each read either fails as corrupt or
    /// returns exactly what was written (a byte SQLite never uses), never anything else.
    @Test func noFlippedByteGivesAWrongResult() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            let contents = Self.canonical(try Self.largeContents(records: 2_000))
            try SnapshotFile.write(contents, to: path)
            let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            var detected = 0, harmless = 0
            for offset in stride(from: 7, to: original.count, by: original.count / 97) {
                var bytes = original
                bytes[offset] ^= 0x10
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                do {
                    let read = try SnapshotFile.read(from: path)
                    #expect(read == contents, "byte \(offset) changed the result")
                    harmless += 1
                } catch SnapshotError.corrupt, SnapshotError.unsupportedFormat {
                    detected += 1
                }
            }
            #expect(detected > harmless)
        }
    }

    @Test(arguments: [0.5, 0.999, 0.01])
    func aTruncatedFileIsCorrupt(keeping fraction: Double) async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(try Self.largeContents(records: 2_000), to: path)
            let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(truncate(path, off_t(Double(size) * fraction)) == 0)
            Self.expectCorrupt(path)
        }
    }

    @Test func aFileThatIsNotADatabaseIsCorruptAndAMissingOneIsAnIOError() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let path = directory.appending("a.snap.db")
            try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
            Self.expectCorrupt(path, containing: "not a database")
            try Data().write(to: URL(fileURLWithPath: path))
            Self.expectCorrupt(path, containing: "empty")
            let missing = directory.appending("missing.snap.db")
            let error = #expect(throws: SnapshotError.self) { try SnapshotFile.read(from: missing) }
            guard case .io(missing, _)? = error else {
                Issue.record("expected an I/O error, got \(String(describing: error))")
                return
            }
            #expect("\(error!)".contains("No such file"))
        }
    }

    // MARK: Summary

    @Test func summaryCountsKeysAndRecords() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let contents = try Self.sampleContents()
            let path = directory.appending("a.snap.db")
            try SnapshotFile.write(contents, to: path)
            let summary = try SnapshotFile.summary(of: path)
            let store = MVCCStore(importing: contents.store)
            var countOnly = RangeRequest(key: [0], rangeEnd: [0])
            countOnly.countOnly = true
            #expect(summary.totalKeys == Int(try store.range(countOnly).count))
            #expect(summary.records == contents.store.records.count)
            #expect(summary.index == contents.index && summary.term == contents.term)
            #expect(summary.revision == contents.store.currentRevision)
            #expect(summary.compactRevision == contents.store.compactRevision)
            let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(summary.fileSize == Int64(size))

            // The hash is the content's: the same contents written again hash the same.
            let again = directory.appending("b.snap.db")
            try SnapshotFile.write(contents, to: again)
            #expect(try SnapshotFile.summary(of: again).hash == summary.hash)
            var changed = contents
            changed.leases[0].remainingTTL += 1
            try SnapshotFile.write(changed, to: again)
            #expect(try SnapshotFile.summary(of: again).hash != summary.hash)
        }
    }

    // MARK: Directory

    @Test func directoryNamesSavesAndLoadsTheNewest() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let folder = try SnapshotDirectory(path: directory.appending("member/snap"))
            #expect(folder.fileName(term: 2, index: 0x1f) == "0000000000000002-000000000000001f.snap.db")
            #expect(try folder.loadNewest() == nil)
            #expect(folder.newestIndex() == nil)

            var older = try Self.sampleContents()
            older.index = 90
            older.term = 3
            var newer = older
            newer.index = 100
            newer.store.records.removeLast()
            let olderPath = try folder.save(older)
            let newerPath = try folder.save(newer)
            #expect(newerPath == "\(folder.path)/0000000000000003-0000000000000064.snap.db")
            #expect(folder.newestIndex() == 100)

            let loaded = try #require(try folder.loadNewest())
            #expect(loaded.path == newerPath && loaded.contents == Self.canonical(newer) && loaded.skipped.isEmpty)

            #expect(truncate(newerPath, 5_000) == 0)
            let fallback = try #require(try folder.loadNewest())
            #expect(fallback.path == olderPath && fallback.contents == Self.canonical(older))
            #expect(fallback.skipped.map(\.path) == [newerPath])
            #expect(fallback.skipped.allSatisfy { if case SnapshotError.corrupt = $0.error { true } else { false } })

            #expect(truncate(olderPath, 100) == 0)
            #expect(throws: SnapshotError.self) { try folder.loadNewest() }
        }
    }

    @Test func pruneKeepsTheNewestAndRemovesTemporaryFiles() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot") { directory in
            let folder = try SnapshotDirectory(path: directory.path)
            var contents = try Self.sampleContents()
            var saved: [String] = []
            for index in [5, 40, 12, 30] as [UInt64] {
                contents.index = index
                saved.append(try folder.save(contents))
            }
            let stray = directory.appending(folder.fileName(term: 9, index: 50) + ".tmp")
            let unrelated = directory.appending("0000000000000001.snap")
            for path in [stray, unrelated] { try Data("x".utf8).write(to: URL(fileURLWithPath: path)) }

            try folder.prune(keep: 2)
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            #expect(left == ["0000000000000001.snap", folder.fileName(term: contents.term, index: 30),
                             folder.fileName(term: contents.term, index: 40)])
            #expect(try folder.loadNewest()?.contents.index == 40)
        }
    }

    // MARK: Benchmark

    /// `SNAPSHOT_BENCH=1 swift test -c release --filter SnapshotFileTests` prints the timings.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SNAPSHOT_BENCH"] == "1"))
    func benchmarkOneMillionRecords() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot-bench") { directory in
            let count = 1_000_000
            var records: [MVCCSnapshot.Record] = []
            records.reserveCapacity(count)
            var value = [UInt8](repeating: 0, count: 256)
            for index in 0..<count {
                let main = Int64(index + 2)
                withUnsafeBytes(of: UInt64(index).bigEndian) { value.replaceSubrange(0..<8, with: $0) }
                let key = withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) }
                records.append(MVCCSnapshot.Record(
                    revision: Revision(main: main),
                    kv: KeyValue(key: key, value: value, createRevision: main, modRevision: main, version: 1),
                    isTombstone: false))
            }
            let contents = SnapshotContents(
                index: 1_000_001, term: 2, voters: [1], learners: [], clusterID: 7,
                members: [SnapshotMember(id: 1, name: "a", peerURLs: ["http://127.0.0.1:2380"],
                                         clientURLs: ["http://127.0.0.1:2379"], isLearner: false)],
                store: MVCCSnapshot(currentRevision: Int64(count + 1), compactRevision: 0, records: records),
                leases: [], alarms: [])
            let path = directory.appending("bench.snap.db")
            let clock = ContinuousClock()
            let write = try clock.measure { try SnapshotFile.write(contents, to: path) }
            var read: SnapshotContents?
            let readTime = try clock.measure { read = try SnapshotFile.read(from: path) }
            var summary: SnapshotSummary?
            let summaryTime = try clock.measure { summary = try SnapshotFile.summary(of: path) }
            #expect(read == contents)
            let megabytes = Double(summary?.fileSize ?? 0) / 1_048_576
            print("snapshot bench: \(count) records, \(String(format: "%.0f", megabytes)) MiB: write \(write), read \(readTime), summary \(summaryTime)")
        }
    }

    // MARK: Helpers

    /// A history with puts, overwrites, a multi-key delete (sub revisions, tombstones), a lease and a
    /// compaction, plus membership, leases and alarms given out of id order.
    static func sampleContents() throws -> SnapshotContents {
        let store = MVCCStore()
        func put(_ key: String, _ value: String, lease: Int64 = 0) throws {
            _ = try store.put(PutRequest(key: Array(key.utf8), value: Array(value.utf8), lease: lease))
        }
        try put("a", "1")
        try put("b", "2")
        try put("c", "3")
        try put("a", "4")
        _ = try store.deleteRange(DeleteRangeRequest(key: Array("b".utf8), rangeEnd: Array("d".utf8)))
        try put("b", "5", lease: 0x1234)
        _ = try store.compact(store.currentRevision - 1)
        try put("d", "")
        try put("e\u{0}binary", "zero\u{0}byte")
        try put("a", "6")
        _ = try store.deleteRange(DeleteRangeRequest(key: Array("e\u{0}binary".utf8)))
        let members = [
            SnapshotMember(id: 0xF000_0000_0000_0001, name: "high", peerURLs: ["http://10.0.0.3:2380"],
                           clientURLs: [], isLearner: true),
            SnapshotMember(id: 0x0A00_0000_0000_0002, name: "ünï", peerURLs: ["http://10.0.0.2:2380", "http://h:2380"],
                           clientURLs: ["http://10.0.0.2:2379"], isLearner: false),
            SnapshotMember(id: 0x0100_0000_0000_0003, name: "", peerURLs: ["http://10.0.0.1:2380"],
                           clientURLs: ["http://10.0.0.1:2379", "https://10.0.0.1:2381"], isLearner: false),
        ]
        return SnapshotContents(
            index: 0xFFFF_FFFF_0000_0001, term: 7, voters: [0x0A00_0000_0000_0002, 0x0100_0000_0000_0003],
            learners: [0xF000_0000_0000_0001], clusterID: 0xDEAD_BEEF_CAFE_F00D, members: members,
            store: store.readViews.current().export(),
            leases: [SnapshotLease(id: 0x5678, ttl: 60, remainingTTL: 12), SnapshotLease(id: 0x1234, ttl: 5, remainingTTL: 5)],
            alarms: [SnapshotAlarm(memberID: 0xF000_0000_0000_0001, alarm: 1),
                     SnapshotAlarm(memberID: 0x0100_0000_0000_0003, alarm: 2)])
    }

    /// Distinct random-looking values, so a value's bytes occur once in the file.
    static func largeContents(records count: Int) throws -> SnapshotContents {
        var contents = try sampleContents()
        var generator = SystemRandomNumberGenerator()
        contents.store.records = (0..<count).map { index in
            let main = Int64(index + 1)
            let value = (0..<200).map { _ in UInt8.random(in: 0...255, using: &generator) }
            return MVCCSnapshot.Record(
                revision: Revision(main: main),
                kv: KeyValue(key: Array("key-\(index % 500)".utf8), value: value, createRevision: main,
                             modRevision: main, version: 1),
                isTombstone: false)
        }
        contents.store.currentRevision = Int64(count)
        contents.store.compactRevision = 0
        return contents
    }

    /// What a read returns for `contents`: members and leases in id order.
    static func canonical(_ contents: SnapshotContents) -> SnapshotContents {
        var contents = contents
        contents.members.sort { $0.id < $1.id }
        contents.leases.sort { $0.id < $1.id }
        return contents
    }

    static func expectCorrupt(_ path: String, containing fragment: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        let operations: [() throws -> Void] = [
            { _ = try SnapshotFile.read(from: path) }, { _ = try SnapshotFile.summary(of: path) },
        ]
        for operation in operations {
            let error = #expect(throws: SnapshotError.self, sourceLocation: sourceLocation) { try operation() }
            guard case .corrupt(path, let reason)? = error else {
                Issue.record("expected corrupt, got \(String(describing: error))", sourceLocation: sourceLocation)
                continue
            }
            if let fragment { #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation) }
        }
    }

    static func firstOffset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first else { return nil }
        var start = 0
        while let candidate = haystack[start...].firstIndex(of: first) {
            if haystack[candidate...].starts(with: needle) { return candidate }
            start = candidate + 1
        }
        return nil
    }

    /// Runs the sqlite3 command-line tool on `path` and returns its stdout.
    static func sqlite3(_ path: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "sqlite3 \(sql)")
        return String(decoding: data, as: UTF8.self)
    }
}
