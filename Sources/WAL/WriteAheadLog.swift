import Raft
import Checksum
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The write-ahead log: Raft's entries, hard states and snapshot markers, durable before Raft's
/// messages promise them to anyone.
///
/// The log is a directory of segment files (see ``SegmentName``), each preallocated to
/// ``Options/segmentSize`` and filled with framed, checksummed records (see `WALRecordFormat`). Every
/// segment begins with a chain record (the previous segment's last checksum), the metadata, the latest
/// hard state and the latest snapshot marker, so that older segments can be deleted without losing
/// any of them.
///
/// The WAL depends on the Raft module for ``Entry``, ``HardState`` and ``ConfState``: they are exactly
/// what it stores, and a second set of look-alike record types would need a translation layer on the
/// hottest path of the server for no gain.
///
/// Not thread-safe: one owner writes (the server's Raft driver, or ``GroupCommitLog``'s writer).
///
/// - Complexity: ``save(hardState:entries:sync:)`` costs one `pwrite` of the encoded batch and at
///   most one `fdatasync`, whatever the batch size: that is the group commit.
public final class WriteAheadLog {
    /// Tuning knobs.
    public struct Options: Sendable {
        /// Bytes preallocated per segment; a new segment starts when a batch would not fit.
        public var segmentSize: Int
        /// False only for etcd's `--unsafe-no-fsync`: saves and syncs return without `fdatasync`,
        /// so a power failure loses what the OS had not yet written back.
        public var syncs: Bool
        /// Disk faults for the fault harness; none by default.
        public var faults: DiskFaults

        /// Creates options; 64 MiB segments by default, as in etcd.
        public init(segmentSize: Int = 64 << 20, syncs: Bool = true, faults: DiskFaults = DiskFaults()) {
            self.segmentSize = segmentSize
            self.syncs = syncs
            self.faults = faults
        }
    }

    /// Faults a test build injects into the log's disk, each off unless set (the server's
    /// `SWIFT_ETCD_FAILPOINTS`). They let a process-level harness do what a real disk or a power
    /// failure would, on demand.
    public struct DiskFaults: Sendable, Hashable {
        /// Writes stay in the process until they are synced (or, like an OS's writeback, until
        /// 256 KiB are waiting or the oldest has waited a second), so a SIGKILL loses them as a
        /// power failure loses the page cache.
        public var unsyncedWritesLostOnKill = false
        /// The `n`th sync since the log was opened fails with EIO.
        public var failSync: Int?
        /// The `n`th write since the log was opened stops halfway, and the process exits at once:
        /// the torn tail of a crash mid-write.
        public var tornWrite: Int?
        /// The log runs in the whole-server simulation, with many members in one process and no
        /// real clock: writes held for a sync go to the file only by size (not by age), and a
        /// torn write throws, crashing the simulated member rather than the process.
        public var simulated = false

        public init() {}
    }

    /// What ``open(directory:from:options:)`` recovered.
    public struct RecoveredState: Sendable {
        /// The metadata given to ``create(directory:metadata:options:)``.
        public var metadata: [UInt8]
        /// The latest hard state.
        public var hardState: HardState
        /// The snapshot marker replay started from (the latest one, unless one was requested).
        public var snapshot: WALSnapshotMarker?
        /// The entries after the snapshot, with overwritten entries already replaced.
        public var entries: [Entry]
    }

    private let directory: String
    private let options: Options
    private let metadata: [UInt8]
    private var segments: [SegmentName]
    private var current: SegmentFile
    private var writeOffset: Int
    private var chainedCRC: UInt32
    private var latestHardState: HardState
    private var latestSnapshot: WALSnapshotMarker?
    /// The index of the last entry written.
    public private(set) var lastIndex: UInt64
    /// Set when a write or sync failed: what is on disk is unknown, so the log refuses further use
    /// (the server must restart and recover), like etcd's fatal on fsync failure.
    private var failed = false
    /// Writes and syncs since the log was opened, for the injected disk faults.
    private var writeCount = 0, syncCount = 0

    private init(directory: String, options: Options, metadata: [UInt8], segments: [SegmentName],
                 current: SegmentFile, writeOffset: Int, chainedCRC: UInt32, hardState: HardState,
                 snapshot: WALSnapshotMarker?, lastIndex: UInt64) {
        self.directory = directory
        self.options = options
        self.metadata = metadata
        self.segments = segments
        self.current = current
        self.writeOffset = writeOffset
        self.chainedCRC = chainedCRC
        self.latestHardState = hardState
        self.latestSnapshot = snapshot
        self.lastIndex = lastIndex
    }

    // MARK: Create and open

    /// Creates a new log in `directory` (created if missing), which must hold no segments.
    public static func create(directory: String, metadata: [UInt8], options: Options = Options()) throws -> WriteAheadLog {
        try Directory.create(directory)
        if try Directory.list(directory).contains(where: { SegmentName(fileName: $0) != nil }) {
            throw WALError.alreadyExists(directory: directory)
        }
        let name = SegmentName(sequence: 0, firstIndex: 0)
        let (file, offset, crc) = try createSegment(directory: directory, name: name, options: options, previousCRC: 0,
                                                    metadata: metadata, hardState: HardState(), snapshot: nil)
        return WriteAheadLog(directory: directory, options: options, metadata: metadata, segments: [name],
                             current: file, writeOffset: offset, chainedCRC: crc, hardState: HardState(),
                             snapshot: nil, lastIndex: 0)
    }

    /// Writes a segment's header records to a temporary file, then renames it into place and syncs
    /// the directory, so a crash never leaves a segment without its header.
    private static func createSegment(
        directory: String, name: SegmentName, options: Options, previousCRC: UInt32, metadata: [UInt8],
        hardState: HardState, snapshot: WALSnapshotMarker?
    ) throws -> (SegmentFile, Int, UInt32) {
        let path = directory + "/" + name.fileName
        let temporary = path + ".tmp"
        // A leftover from a crash during a previous attempt.
        try? Directory.remove(temporary)
        let file = try SegmentFile.create(path: temporary, size: options.segmentSize, holdsUnsyncedWrites: false)
        var buffer: [UInt8] = []
        var chainWriter = PayloadWriter()
        chainWriter.put(UInt64(previousCRC))
        var crc = WALRecordFormat.append(type: .chain, payload: chainWriter.bytes, chainedCRC: 0, to: &buffer)
        crc = WALRecordFormat.append(type: .metadata, payload: metadata, chainedCRC: crc, to: &buffer)
        crc = WALRecordFormat.append(type: .hardState, payload: WALPayload.hardState(hardState), chainedCRC: crc, to: &buffer)
        if let snapshot {
            crc = WALRecordFormat.append(type: .snapshotMarker, payload: WALPayload.snapshotMarker(snapshot), chainedCRC: crc, to: &buffer)
        }
        try file.write(buffer, at: 0)
        try file.sync()
        try Directory.rename(temporary, path)
        try Directory.sync(directory)
        return (try SegmentFile.open(path: path, holdsUnsyncedWrites: options.faults.unsyncedWritesLostOnKill,
                                           writebackByAge: !options.faults.simulated),
                buffer.count, crc)
    }

    /// Opens the log in `directory` and replays it.
    ///
    /// Replay starts after `snapshot` (the snapshot the application restored its state from), whose
    /// marker must be in the log; when nil, after the latest marker found. A torn or zero-filled tail
    /// in the last segment (a crash mid-write) is cut off; any damage before the tail throws
    /// ``WALError/corruption(file:offset:reason:)``.
    public static func open(directory: String, from snapshot: WALSnapshotMarker? = nil,
                            options: Options = Options()) throws -> (WriteAheadLog, RecoveredState) {
        let names = try Directory.list(directory).compactMap(SegmentName.init(fileName:)).sorted()
        guard !names.isEmpty else { throw WALError.notFound(directory: directory) }
        for (previous, next) in zip(names, names.dropFirst()) where next.sequence != previous.sequence + 1 {
            throw WALError.corruption(file: next.fileName, offset: 0, reason: "segment \(previous.sequence + 1) is missing")
        }
        var replay = Replay(requested: snapshot)
        var previousCRC: UInt32? = nil
        var lastFile: SegmentFile? = nil
        var writeOffset = 0
        var chainedCRC: UInt32 = 0
        for (position, name) in names.enumerated() {
            let path = directory + "/" + name.fileName
            let file = try SegmentFile.open(path: path, holdsUnsyncedWrites: options.faults.unsyncedWritesLostOnKill,
                                           writebackByAge: !options.faults.simulated)
            let bytes = try file.readAll()
            let isLast = position == names.count - 1
            let end = try replay.scan(bytes, fileName: name.fileName, isLast: isLast, previousCRC: previousCRC)
            if end.tornTail {
                try file.zeroTail(from: end.offset, size: options.segmentSize)
            }
            previousCRC = end.crc
            if isLast {
                lastFile = file
                writeOffset = end.offset
                chainedCRC = end.crc
            }
        }
        let recovered = try replay.finish()
        let log = WriteAheadLog(
            directory: directory, options: options, metadata: recovered.metadata, segments: names,
            current: lastFile!, writeOffset: writeOffset, chainedCRC: chainedCRC, hardState: recovered.hardState,
            snapshot: replay.latestSnapshot, lastIndex: recovered.entries.last?.index ?? recovered.snapshot?.index ?? 0)
        return (log, recovered)
    }

    // MARK: Writing

    /// Appends `entries` and `hardState` as one write and, when `sync` is true, makes them durable
    /// with a single `fdatasync`. Entries whose index is at or below ``lastIndex`` replace the old
    /// ones from that index on (a new leader overwrote an uncommitted tail); replay applies the same
    /// rule.
    public func save(hardState: HardState?, entries: [Entry], sync: Bool = true) throws {
        guard !failed else { throw WALError.closed }
        if hardState == nil && entries.isEmpty { return }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(entries.reduce(0) { $0 + $1.data.count + 33 } + 40)
        var crc = chainedCRC
        for entry in entries {
            crc = WALRecordFormat.append(type: .entry, payload: WALPayload.entry(entry), chainedCRC: crc, to: &buffer)
        }
        if let hardState {
            crc = WALRecordFormat.append(type: .hardState, payload: WALPayload.hardState(hardState), chainedCRC: crc, to: &buffer)
        }
        try write(buffer, crcAfter: crc, sync: sync, firstEntryIndex: entries.first?.index)
        if let hardState { latestHardState = hardState }
        if let last = entries.last { lastIndex = last.index }
    }

    /// Records that a snapshot was saved at `marker`; durable on return. Write it after the snapshot
    /// file itself is durable, and before ``releaseSegments(through:)``.
    public func saveSnapshotMarker(_ marker: WALSnapshotMarker) throws {
        guard !failed else { throw WALError.closed }
        var buffer: [UInt8] = []
        let crc = WALRecordFormat.append(type: .snapshotMarker, payload: WALPayload.snapshotMarker(marker),
                                         chainedCRC: chainedCRC, to: &buffer)
        try write(buffer, crcAfter: crc, sync: true, firstEntryIndex: nil)
        if marker.index > (latestSnapshot?.index ?? 0) { latestSnapshot = marker }
        lastIndex = max(lastIndex, marker.index)
    }

    /// Makes everything written so far durable (with `--unsafe-no-fsync`, only hands it to the
    /// OS: the server calls this when it stops).
    public func sync() throws {
        guard !failed else { throw WALError.closed }
        do {
            if options.syncs { try syncCurrent() } else { try current.flush() }
        } catch {
            failed = true
            throw error
        }
    }

    private func write(_ buffer: [UInt8], crcAfter crc: UInt32, sync: Bool, firstEntryIndex: UInt64?) throws {
        do {
            let headerEstimate = 128 + metadata.count
            if writeOffset + buffer.count > options.segmentSize && writeOffset > headerEstimate {
                // Re-encode the batch in the new segment: its checksum chain restarts there.
                try cutSegment(nextIndex: firstEntryIndex ?? lastIndex + 1)
                var rechained: [UInt8] = []
                var rechainedCRC = chainedCRC
                var offset = 0
                while offset < buffer.count {
                    let length = Int(buffer.withUnsafeBytes { WALRecordFormat.load32($0, at: offset) })
                    let type = WALRecordType(rawValue: buffer[offset + 4])!
                    let payload = Array(buffer[(offset + WALRecordFormat.headerSize)..<(offset + WALRecordFormat.headerSize + length)])
                    rechainedCRC = WALRecordFormat.append(type: type, payload: payload, chainedCRC: rechainedCRC, to: &rechained)
                    offset += WALRecordFormat.headerSize + length
                }
                try writeCurrent(rechained, at: writeOffset)
                writeOffset += rechained.count
                chainedCRC = rechainedCRC
            } else {
                try writeCurrent(buffer, at: writeOffset)
                writeOffset += buffer.count
                chainedCRC = crc
            }
            if sync { try syncCurrent() }
        } catch {
            failed = true
            throw error
        }
    }

    /// Writes `bytes` to the current segment, unless the injected torn write is due: then half of
    /// them reach the file and the process ends.
    private func writeCurrent(_ bytes: [UInt8], at offset: Int) throws {
        writeCount += 1
        if options.faults.tornWrite == writeCount {
            try current.writeThrough(Array(bytes[..<(bytes.count / 2)]), at: offset)
            if options.faults.simulated {
                throw WALError.io(operation: "write (failpoint walTornWrite: torn halfway)", path: current.path, errno: EIO)
            }
            writeToStandardError("wal: failpoint walTornWrite: exiting after half of write \(writeCount)\n")
            _exit(86)
        }
        try current.write(bytes, at: offset)
    }

    private func syncCurrent() throws {
        guard options.syncs else { return }
        syncCount += 1
        if options.faults.failSync == syncCount {
            throw WALError.io(operation: "fdatasync (failpoint walSyncFails)", path: current.path, errno: EIO)
        }
        try current.dataSync()
    }

    /// Starts a new segment now, so that ``releaseSegments(through:)`` can delete the current one
    /// once a snapshot covers everything in it (a defragmentation wants its space back at once).
    public func startNewSegment() throws {
        guard !failed else { throw WALError.closed }
        do {
            try cutSegment(nextIndex: lastIndex + 1)
        } catch {
            failed = true
            throw error
        }
    }

    /// Makes the current segment durable and starts the next one.
    private func cutSegment(nextIndex: UInt64) throws {
        try current.flush()
        if options.syncs { try current.dataSync() }
        let name = SegmentName(sequence: segments.last!.sequence + 1, firstIndex: nextIndex)
        let (file, offset, crc) = try Self.createSegment(
            directory: directory, name: name, options: options, previousCRC: chainedCRC, metadata: metadata,
            hardState: latestHardState, snapshot: latestSnapshot)
        segments.append(name)
        current = file
        writeOffset = offset
        chainedCRC = crc
    }

    /// Deletes segments that hold only entries at or below `snapshotIndex` (never the segment being
    /// written). Call after the snapshot and its marker are durable.
    public func releaseSegments(through snapshotIndex: UInt64) throws {
        var removable = 0
        // Segment i holds entries below segments[i + 1].firstIndex only.
        while removable + 1 < segments.count && segments[removable + 1].firstIndex <= snapshotIndex + 1 {
            removable += 1
        }
        guard removable > 0 else { return }
        for name in segments[..<removable] { try Directory.remove(directory + "/" + name.fileName) }
        segments.removeFirst(removable)
        try Directory.sync(directory)
    }

    /// Bytes of records in the live segments (not their preallocated size): what the log holds.
    public var bytesInUse: Int { (segments.count - 1) * options.segmentSize + writeOffset }

    /// The segment file names, oldest first (for tests and operators).
    public var segmentFileNames: [String] { segments.map(\.fileName) }
}

/// `write(2)` to standard error, named apart from the log's own `write` methods.
private func writeToStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// The replay state machine over all segments.
private struct Replay {
    let requested: WALSnapshotMarker?
    var metadata: [UInt8]? = nil
    var hardState = HardState()
    var latestSnapshot: WALSnapshotMarker? = nil
    var foundRequested = false
    /// Entries seen so far, contiguous, starting at `entries.first.index`.
    var entries: [Entry] = []

    init(requested: WALSnapshotMarker?) {
        self.requested = requested
        if let requested, requested.index == 0 { foundRequested = true }
    }

    struct SegmentEnd {
        var offset: Int
        var crc: UInt32
        var tornTail: Bool
    }

    /// Reads the records of one segment; returns where its data ends and the chained checksum there.
    mutating func scan(_ bytes: [UInt8], fileName: String, isLast: Bool, previousCRC: UInt32?) throws -> SegmentEnd {
        var offset = 0
        var crc: UInt32 = 0
        let headerSize = WALRecordFormat.headerSize
        /// A failed record is the torn tail of a crash only if it is in the last segment and nothing
        /// but zeros follows it; otherwise it is corruption.
        func fail(_ reason: String, extent: Int) throws -> SegmentEnd {
            let after = min(bytes.count, offset + extent)
            if isLast && isZero(bytes, from: after) {
                return SegmentEnd(offset: offset, crc: crc, tornTail: true)
            }
            throw WALError.corruption(file: fileName, offset: offset, reason: reason)
        }
        var recordCount = 0
        while true {
            if bytes.count - offset < headerSize {
                if isZero(bytes, from: offset) { return SegmentEnd(offset: offset, crc: crc, tornTail: false) }
                return try fail("truncated record header", extent: headerSize)
            }
            let header = bytes[offset..<(offset + headerSize)]
            if header.allSatisfy({ $0 == 0 }) {
                // The end of the data in a preallocated segment: only zeros may follow.
                if isZero(bytes, from: offset + headerSize) {
                    return SegmentEnd(offset: offset, crc: crc, tornTail: false)
                }
                return try fail("data after the end of the log", extent: headerSize)
            }
            let (length, storedHeaderCRC, storedDataCRC) = bytes.withUnsafeBytes { raw in
                (Int(WALRecordFormat.load32(raw, at: offset)), WALRecordFormat.load32(raw, at: offset + 8),
                 WALRecordFormat.load32(raw, at: offset + 12))
            }
            guard CRC32C.update(0, bytes[offset..<(offset + 8)]) == storedHeaderCRC else {
                return try fail("record header checksum mismatch", extent: headerSize)
            }
            let payloadStart = offset + headerSize
            guard length <= bytes.count - payloadStart else {
                return try fail("record of \(length) bytes runs past the end of the file", extent: bytes.count - offset)
            }
            let typeByte = bytes[offset + 4]
            let payload = bytes[payloadStart..<(payloadStart + length)]
            let dataCRC = CRC32C.update(CRC32C.update(crc, [typeByte]), payload)
            guard dataCRC == storedDataCRC else {
                return try fail("record checksum mismatch", extent: headerSize + length)
            }
            guard let type = WALRecordType(rawValue: typeByte) else {
                throw WALError.corruption(file: fileName, offset: offset, reason: "unknown record type \(typeByte)")
            }
            do {
                try apply(type, payload, isFirst: recordCount == 0, previousCRC: previousCRC)
            } catch let error as WALError {
                throw error
            } catch {
                throw WALError.corruption(file: fileName, offset: offset, reason: "malformed \(type) record")
            }
            recordCount += 1
            crc = dataCRC
            offset = payloadStart + length
        }
    }

    private struct ChainBroken: Error {}

    /// Whether `bytes[start...]` is all zeros; checks 8 bytes at a time because segments are
    /// mostly preallocated zeros and every open scans them.
    private func isZero(_ bytes: [UInt8], from start: Int) -> Bool {
        bytes.withUnsafeBytes { raw in
            var position = start
            while position < raw.count && position % 8 != 0 {
                if raw[position] != 0 { return false }
                position += 1
            }
            let words = (raw.count - position) / 8
            if words > 0 {
                let base = (raw.baseAddress! + position).assumingMemoryBound(to: UInt64.self)
                var accumulated: UInt64 = 0
                for word in 0..<words { accumulated |= base[word] }
                if accumulated != 0 { return false }
                position += words * 8
            }
            while position < raw.count {
                if raw[position] != 0 { return false }
                position += 1
            }
            return true
        }
    }

    private mutating func apply(_ type: WALRecordType, _ payload: ArraySlice<UInt8>, isFirst: Bool, previousCRC: UInt32?) throws {
        switch type {
        case .chain:
            var reader = PayloadReader(payload)
            let chained = UInt32(truncatingIfNeeded: try reader.uint64())
            if let previousCRC, chained != previousCRC { throw ChainBroken() }
        case .metadata:
            let value = Array(payload)
            if let metadata, metadata != value { throw ChainBroken() }
            metadata = value
        case .hardState:
            hardState = try WALPayload.decodeHardState(payload)
        case .snapshotMarker:
            let marker = try WALPayload.decodeSnapshotMarker(payload)
            if let requested, marker.index == requested.index, marker.term == requested.term { foundRequested = true }
            if marker.index >= (latestSnapshot?.index ?? 0) { latestSnapshot = marker }
            // A snapshot beyond the entries (installed from a leader) restarts the log after it.
            if let last = entries.last?.index, marker.index > last { entries = [] }
        case .entry:
            let entry = try WALPayload.decodeEntry(payload)
            if let first = entries.first?.index {
                if entry.index < first {
                    entries = [entry]
                } else if entry.index <= entries.last!.index + 1 {
                    // Overwrites the old tail from this index on (a newer leader's entries).
                    entries.removeSubrange(Int(entry.index - first)...)
                    entries.append(entry)
                } else {
                    entries = [entry]
                }
            } else {
                entries = [entry]
            }
        }
    }

    func finish() throws -> WriteAheadLog.RecoveredState {
        let start: WALSnapshotMarker?
        if let requested {
            guard foundRequested else { throw WALError.snapshotNotFound(index: requested.index, term: requested.term) }
            start = requested
        } else {
            start = latestSnapshot
        }
        let after = start?.index ?? 0
        let replayed = entries.filter { $0.index > after }
        if let first = replayed.first, first.index != after + 1 {
            throw WALError.corruption(file: "", offset: 0, reason: "entries \(after + 1)..<\(first.index) are missing")
        }
        return WriteAheadLog.RecoveredState(metadata: metadata ?? [], hardState: hardState, snapshot: start, entries: replayed)
    }
}
