import BTreeStore
import CSQLite
import Checksum
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a snapshot file could not be written or read.
package enum SnapshotError: Error, CustomStringConvertible {
    /// The file is damaged: SQLite rejected it, a value has the wrong type or is out of range, or the
    /// content does not match its checksum. Never returned as data, because a member restored from a
    /// wrong snapshot would silently diverge from the cluster.
    case corrupt(path: String, reason: String)
    /// A format this build cannot read (written by a newer one).
    case unsupportedFormat(path: String, version: Int)
    /// The file system refused: missing file, permissions, a full disk.
    case io(path: String, message: String)

    package var description: String {
        switch self {
        case .corrupt(let path, let reason):
            "snapshot \(path) is corrupt: \(reason)"
        case .unsupportedFormat(let path, let version):
            "snapshot \(path) has format version \(version); this build reads version \(SnapshotFile.formatVersion)"
        case .io(let path, let message):
            "snapshot \(path): \(message)"
        }
    }
}

/// A snapshot as one SQLite file: anyone can inspect it with `sqlite3`, and the server writes it in
/// one transaction and reads it back in one ordered scan.
///
/// The tables:
/// - `meta(name, value)`: `format_version`, `index`, `term`, `current_revision`, `compact_revision`,
///   `cluster_id` and `checksum`.
/// - `kv`: one row per history record in `(main, sub)` order, tombstones included (`tombstone = 1`).
/// - `live_kv`, a view: each key's latest record unless it is a tombstone, that is the key space at
///   the current revision: `sqlite3 x.snap.db "select cast(key as text), cast(value as text) from live_kv"`.
/// - `leases`, `members` (URLs comma-joined), `conf_state` (`learner` 0 for voters, 1 for learners)
///   and `alarms`.
///
/// UInt64 ids are stored as their Int64 bit pattern (SQLite integers are signed).
///
/// SQLite checks its pages only as far as it needs them, so a flipped bit in a key or value would be
/// read back as data. `checksum` is therefore a CRC-32C over a canonical serialization of every
/// other value (see `ContentHasher`), computed while writing and verified by every read.
package enum SnapshotFile {
    package static let formatVersion = 1

    /// Writes atomically: to "<path>.tmp", fsync the file, rename over `path`, fsync the directory.
    /// A crash leaves either the old file or the new one, plus at most a stray ".tmp" file.
    ///
    /// The file is built with SQLite's journal and syncs turned off (a half-built temporary file is
    /// simply discarded), then made durable with one fsync.
    /// `beforeRename` runs once the temporary file is durable (a fault test crashes there).
    package static func write(_ contents: SnapshotContents, to path: String,
                              beforeRename: () -> Void = {}) throws {
        let temporary = path + ".tmp"
        try Disk.removeIfPresent(temporary)
        do {
            do {
                try build(contents, at: temporary)
            } catch let failure as SQLiteFailure {
                throw SnapshotError.io(path: temporary, message: failure.message)
            }
            try Disk.restrictToOwner(temporary)
            try Disk.syncFile(temporary)
            beforeRename()
            try Disk.move(temporary, to: path)
        } catch {
            try? Disk.removeIfPresent(temporary)
            throw error
        }
        try Disk.syncDirectory(Disk.parent(of: path))
    }

    /// Reads and fully validates: SQLite's structural check, the format version, value types and
    /// ranges, and the content checksum.
    package static func read(from path: String) throws -> SnapshotContents {
        var records: [MVCCSnapshot.Record] = []
        let scan = try scan(path) { row in
            records.append(MVCCSnapshot.Record(
                revision: Revision(main: row.main, sub: row.sub),
                kv: KeyValue(key: Array(row.key), value: Array(row.value), createRevision: row.createRevision,
                             modRevision: row.modRevision, version: row.version, lease: row.lease),
                isTombstone: row.isTombstone))
        }
        return SnapshotContents(
            index: scan.index, term: scan.term, voters: scan.voters, learners: scan.learners,
            clusterID: scan.clusterID, members: scan.members,
            store: MVCCSnapshot(currentRevision: scan.currentRevision, compactRevision: scan.compactRevision,
                                records: records),
            leases: scan.leases, alarms: scan.alarms)
    }

    /// The numbers `etcdctl snapshot status` shows. Validates like ``read(from:)`` (the checksum
    /// needs every row) but keeps only each key's liveness, not the values.
    package static func summary(of path: String) throws -> SnapshotSummary {
        var records = 0
        var liveness: [[UInt8]: Bool] = [:]
        let scan = try scan(path) { row in
            records += 1
            liveness[Array(row.key)] = !row.isTombstone
        }
        return SnapshotSummary(
            index: scan.index, term: scan.term, revision: scan.currentRevision,
            compactRevision: scan.compactRevision, totalKeys: liveness.values.count { $0 }, records: records,
            fileSize: scan.fileSize, hash: scan.checksum)
    }
}

// MARK: - Schema

extension SnapshotFile {
    /// Meta values in checksum order; `checksum` itself is stored after them.
    private static let metaNames = ["format_version", "index", "term", "current_revision", "compact_revision",
                                    "cluster_id"]

    private static let schema = """
        CREATE TABLE meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE conf_state (id INTEGER, learner INTEGER);
        CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT, peer_urls TEXT, client_urls TEXT,
                              is_learner INTEGER);
        CREATE TABLE leases (id INTEGER PRIMARY KEY, ttl INTEGER, remaining_ttl INTEGER);
        CREATE TABLE alarms (member_id INTEGER, alarm INTEGER);
        CREATE TABLE kv (main INTEGER, sub INTEGER, key BLOB, value BLOB, create_revision INTEGER,
                         mod_revision INTEGER, version INTEGER, lease INTEGER, tombstone INTEGER,
                         PRIMARY KEY (main, sub)) WITHOUT ROWID;
        CREATE VIEW live_kv AS
            SELECT key, value, create_revision, mod_revision, version, lease FROM (
                SELECT key, value, create_revision, mod_revision, version, lease, tombstone,
                       row_number() OVER (PARTITION BY key ORDER BY main DESC, sub DESC) AS newest
                FROM kv)
            WHERE newest = 1 AND tombstone = 0;
        """
}

// MARK: - Writing

extension SnapshotFile {
    private static func build(_ contents: SnapshotContents, at path: String) throws {
        let database = try SQLiteDatabase(path: path, readOnly: false)
        // page_size must precede the first table. 16 KiB pages insert about a quarter faster than
        // 4 KiB ones (fewer page splits and b-tree levels) for a few KiB more per table.
        try database.execute("PRAGMA page_size = 16384; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN")
        try database.execute(schema)
        let store = contents.store
        var hasher = ContentHasher()

        hasher.section("meta")
        let metaValues: [Int64] = [Int64(formatVersion), Int64(bitPattern: contents.index),
                                   Int64(bitPattern: contents.term), store.currentRevision,
                                   store.compactRevision, Int64(bitPattern: contents.clusterID)]
        for value in metaValues { hasher.append(value) }

        hasher.section("conf_state")
        let confState = try database.prepare("INSERT INTO conf_state (id, learner) VALUES (?, ?)")
        for (ids, learner) in [(contents.voters, Int64(0)), (contents.learners, 1)] {
            for id in ids {
                try confState.insert(Int64(bitPattern: id), learner)
                hasher.append(id)
            }
            hasher.endSection(count: ids.count)
        }

        hasher.section("members")
        let members = try database.prepare("""
            INSERT INTO members (id, name, peer_urls, client_urls, is_learner) VALUES (?, ?, ?, ?, ?)
            """)
        for member in contents.members.sorted(by: { $0.id < $1.id }) {
            let peerURLs = member.peerURLs.joined(separator: ",")
            let clientURLs = member.clientURLs.joined(separator: ",")
            try members.bind(1, Int64(bitPattern: member.id))
            try members.bind(2, member.name)
            try members.bind(3, peerURLs)
            try members.bind(4, clientURLs)
            try members.bind(5, member.isLearner ? 1 : 0)
            try members.run()
            hasher.append(member.id, member.name, peerURLs, clientURLs, member.isLearner)
        }
        hasher.endSection(count: contents.members.count)

        hasher.section("leases")
        let leases = try database.prepare("INSERT INTO leases (id, ttl, remaining_ttl) VALUES (?, ?, ?)")
        for lease in contents.leases.sorted(by: { $0.id < $1.id }) {
            try leases.insert(lease.id, lease.ttl, lease.remainingTTL)
            hasher.append(lease)
        }
        hasher.endSection(count: contents.leases.count)

        hasher.section("alarms")
        let alarms = try database.prepare("INSERT INTO alarms (member_id, alarm) VALUES (?, ?)")
        for alarm in contents.alarms {
            try alarms.insert(Int64(bitPattern: alarm.memberID), Int64(alarm.alarm))
            hasher.append(alarm)
        }
        hasher.endSection(count: contents.alarms.count)

        hasher.section("kv")
        let kv = try database.prepare("""
            INSERT INTO kv (main, sub, key, value, create_revision, mod_revision, version, lease, tombstone)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for record in store.records {
            try record.kv.key.withUnsafeBytes { key in
                try record.kv.value.withUnsafeBytes { value in
                    let row = KVRow(record, key: key, value: value)
                    // The buffers are bound without a copy (SQLITE_STATIC): they live until `run`
                    // returns, and every binding is replaced before the next step.
                    try kv.bind(1, row.main)
                    try kv.bind(2, row.sub)
                    try kv.bindWithoutCopy(3, key)
                    try kv.bindWithoutCopy(4, value)
                    try kv.bind(5, row.createRevision)
                    try kv.bind(6, row.modRevision)
                    try kv.bind(7, row.version)
                    try kv.bind(8, row.lease)
                    try kv.bind(9, row.isTombstone ? 1 : 0)
                    try kv.run()
                    hasher.append(row)
                }
            }
        }
        hasher.endSection(count: store.records.count)

        let meta = try database.prepare("INSERT INTO meta (name, value) VALUES (?, ?)")
        for (name, value) in zip(metaNames + ["checksum"], metaValues + [Int64(hasher.finish())]) {
            try meta.bind(1, name)
            try meta.bind(2, value)
            try meta.run()
        }
        // The connection closes when `database` and its statements are released, on return.
        try database.execute("COMMIT")
    }
}

// MARK: - Reading

extension SnapshotFile {
    /// Everything but the history, which `scan` streams to its caller.
    private struct Scan {
        var fileSize: Int64
        var index: UInt64
        var term: UInt64
        var currentRevision: Int64
        var compactRevision: Int64
        var clusterID: UInt64
        var checksum: UInt32
        var voters: [UInt64] = []
        var learners: [UInt64] = []
        var members: [SnapshotMember] = []
        var leases: [SnapshotLease] = []
        var alarms: [SnapshotAlarm] = []
    }

    /// Opens and validates `path`, handing each history row to `visit` in revision order. The row's
    /// buffers point into SQLite's memory and are valid only during the call.
    private static func scan(_ path: String, visit: (KVRow) throws -> Void) throws -> Scan {
        let fileSize = try Disk.readableFileSize(path)
        guard fileSize > 0 else { throw SnapshotError.corrupt(path: path, reason: "the file is empty") }
        do {
            return try scan(path, fileSize: fileSize, visit: visit)
        } catch let failure as SQLiteFailure {
            throw SnapshotError.corrupt(path: path, reason: failure.message)
        }
    }

    private static func scan(_ path: String, fileSize: Int64, visit: (KVRow) throws -> Void) throws -> Scan {
        let database = try SQLiteDatabase(path: path, readOnly: true)
        // Catches damage in pages the scan below never decodes (free pages, the schema's b-tree);
        // damage in the rows themselves is the checksum's job.
        let check = try database.prepare("PRAGMA quick_check(1)")
        if try check.step(), let verdict = check.text(0), verdict != "ok" {
            let lines = verdict.split(separator: "\n").filter { !$0.hasPrefix("*** in database") }
            throw SQLiteFailure(lines.joined(separator: "; "))
        }

        var meta: [String: Int64] = [:]
        let metaRows = try database.prepare("SELECT name, value FROM meta")
        while try metaRows.step() {
            guard let name = metaRows.text(0) else { throw SQLiteFailure("meta has a name that is not text") }
            meta[name] = try metaRows.integer(1, "meta.\(name)")
        }
        guard let version = meta["format_version"] else { throw SQLiteFailure("meta has no format_version") }
        guard version == Int64(formatVersion) else {
            throw SnapshotError.unsupportedFormat(path: path, version: Int(clamping: version))
        }
        let values = try metaNames.map { name in
            guard let value = meta[name] else { throw SQLiteFailure("meta has no \(name)") }
            return value
        }
        var hasher = ContentHasher()
        hasher.section("meta")
        for value in values { hasher.append(value) }
        guard let stored = meta["checksum"], let checksum = UInt32(exactly: stored) else {
            throw SQLiteFailure("meta has no valid checksum")
        }
        var scan = Scan(
            fileSize: fileSize, index: UInt64(bitPattern: values[1]), term: UInt64(bitPattern: values[2]),
            currentRevision: values[3], compactRevision: values[4], clusterID: UInt64(bitPattern: values[5]),
            checksum: checksum)
        // -1 is the store's "never compacted".
        guard -1 <= scan.compactRevision, scan.compactRevision <= scan.currentRevision else {
            throw SQLiteFailure("compact revision \(scan.compactRevision) is outside -1...\(scan.currentRevision)")
        }

        hasher.section("conf_state")
        let confState = try database.prepare("SELECT id, learner FROM conf_state ORDER BY rowid")
        while try confState.step() {
            let id = UInt64(bitPattern: try confState.integer(0, "conf_state.id"))
            switch try confState.integer(1, "conf_state.learner") {
            case 0: scan.voters.append(id)
            case 1: scan.learners.append(id)
            case let other: throw SQLiteFailure("conf_state.learner is \(other), not 0 or 1")
            }
        }
        for ids in [scan.voters, scan.learners] {
            for id in ids { hasher.append(id) }
            hasher.endSection(count: ids.count)
        }

        hasher.section("members")
        let members = try database.prepare(
            "SELECT id, name, peer_urls, client_urls, is_learner FROM members ORDER BY id")
        while try members.step() {
            scan.members.append(SnapshotMember(
                id: UInt64(bitPattern: try members.integer(0, "members.id")),
                name: try members.requiredText(1, "members.name"),
                peerURLs: splitURLs(try members.requiredText(2, "members.peer_urls")),
                clientURLs: splitURLs(try members.requiredText(3, "members.client_urls")),
                isLearner: try members.flag(4, "members.is_learner")))
        }
        // SQLite orders the bit patterns as signed integers; ids are unsigned.
        scan.members.sort { $0.id < $1.id }
        for member in scan.members {
            hasher.append(member.id, member.name, member.peerURLs.joined(separator: ","),
                          member.clientURLs.joined(separator: ","), member.isLearner)
        }
        hasher.endSection(count: scan.members.count)

        hasher.section("leases")
        let leases = try database.prepare("SELECT id, ttl, remaining_ttl FROM leases ORDER BY id")
        while try leases.step() {
            let lease = SnapshotLease(id: try leases.integer(0, "leases.id"), ttl: try leases.integer(1, "leases.ttl"),
                                      remainingTTL: try leases.integer(2, "leases.remaining_ttl"))
            scan.leases.append(lease)
            hasher.append(lease)
        }
        hasher.endSection(count: scan.leases.count)

        hasher.section("alarms")
        let alarms = try database.prepare("SELECT member_id, alarm FROM alarms ORDER BY rowid")
        while try alarms.step() {
            let alarm = try alarms.integer(1, "alarms.alarm")
            guard let alarm = Int32(exactly: alarm) else { throw SQLiteFailure("alarms.alarm \(alarm) is out of range") }
            let row = SnapshotAlarm(memberID: UInt64(bitPattern: try alarms.integer(0, "alarms.member_id")), alarm: alarm)
            scan.alarms.append(row)
            hasher.append(row)
        }
        hasher.endSection(count: scan.alarms.count)

        hasher.section("kv")
        let kv = try database.prepare("""
            SELECT main, sub, key, value, create_revision, mod_revision, version, lease, tombstone
            FROM kv ORDER BY main, sub
            """)
        var records = 0
        while try kv.step() {
            let row = KVRow(
                main: try kv.integer(0, "kv.main"), sub: try kv.integer(1, "kv.sub"),
                key: try kv.blob(2, "kv.key"), value: try kv.blob(3, "kv.value"),
                createRevision: try kv.integer(4, "kv.create_revision"),
                modRevision: try kv.integer(5, "kv.mod_revision"), version: try kv.integer(6, "kv.version"),
                lease: try kv.integer(7, "kv.lease"), isTombstone: try kv.flag(8, "kv.tombstone"))
            // MVCCStore(importing:) traps on a record after the snapshot's revision.
            guard 0 < row.main, row.main <= scan.currentRevision else {
                throw SQLiteFailure("kv row at revision \(row.main) is outside 1...\(scan.currentRevision)")
            }
            hasher.append(row)
            try visit(row)
            records += 1
        }
        hasher.endSection(count: records)

        let computed = hasher.finish()
        guard computed == checksum else {
            throw SQLiteFailure("content checksum mismatch (stored \(hex(checksum)), computed \(hex(computed)))")
        }
        return scan
    }

    private static func splitURLs(_ joined: String) -> [String] {
        joined.isEmpty ? [] : joined.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    private static func hex(_ value: UInt32) -> String {
        "0x" + String(value, radix: 16)
    }
}

// MARK: - Content checksum

/// One history row, as written from a record or as read from SQLite's row buffers.
private struct KVRow {
    var main: Int64
    var sub: Int64
    var key: UnsafeRawBufferPointer
    var value: UnsafeRawBufferPointer
    var createRevision: Int64
    var modRevision: Int64
    var version: Int64
    var lease: Int64
    var isTombstone: Bool

    init(main: Int64, sub: Int64, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
         createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64, isTombstone: Bool) {
        self.main = main
        self.sub = sub
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
        self.isTombstone = isTombstone
    }

    init(_ record: MVCCSnapshot.Record, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        self.init(main: record.revision.main, sub: record.revision.sub, key: key, value: value,
                  createRevision: record.kv.createRevision, modRevision: record.kv.modRevision,
                  version: record.kv.version, lease: record.kv.lease, isTombstone: record.isTombstone)
    }
}

/// The CRC-32C of a snapshot's canonical serialization: each section's name, its rows' values, then
/// its row count. Integers are 8 bytes little-endian; blobs and strings are their length as an
/// integer, then their bytes. It hashes decoded values rather than SQLite's pages, so it does not
/// depend on how SQLite lays the file out, and whatever a reader would return is what it checks.
///
/// Small values are gathered in a buffer so the CRC runs over large spans.
private struct ContentHasher {
    private static let flushSize = 1 << 16
    private var crc: UInt32 = 0
    private var buffer: [UInt8] = []

    init() {
        buffer.reserveCapacity(Self.flushSize + 64)
    }

    mutating func section(_ name: String) {
        append(name)
    }

    mutating func endSection(count: Int) {
        append(Int64(count))
    }

    mutating func append(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        if buffer.count >= Self.flushSize { flush() }
    }

    mutating func append(_ value: UInt64) {
        append(Int64(bitPattern: value))
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(Int64(bytes.count))
        if bytes.count >= Self.flushSize {
            flush()
            crc = CRC32C.update(crc, bytes)
        } else {
            buffer.append(contentsOf: bytes)
            if buffer.count >= Self.flushSize { flush() }
        }
    }

    mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ id: UInt64, _ name: String, _ peerURLs: String, _ clientURLs: String, _ isLearner: Bool) {
        append(id)
        append(name)
        append(peerURLs)
        append(clientURLs)
        append(Int64(isLearner ? 1 : 0))
    }

    mutating func append(_ lease: SnapshotLease) {
        append(lease.id)
        append(lease.ttl)
        append(lease.remainingTTL)
    }

    mutating func append(_ alarm: SnapshotAlarm) {
        append(alarm.memberID)
        append(Int64(alarm.alarm))
    }

    mutating func append(_ row: KVRow) {
        append(row.main)
        append(row.sub)
        append(row.key)
        append(row.value)
        append(row.createRevision)
        append(row.modRevision)
        append(row.version)
        append(row.lease)
        append(Int64(row.isTombstone ? 1 : 0))
    }

    mutating func finish() -> UInt32 {
        flush()
        return crc
    }

    private mutating func flush() {
        crc = buffer.withUnsafeBytes { CRC32C.update(crc, $0) }
        buffer.removeAll(keepingCapacity: true)
    }
}

// MARK: - SQLite

/// An SQLite error message; the public entry points turn it into a ``SnapshotError``.
private struct SQLiteFailure: Error {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

/// One connection, used by one thread for one read or write.
private final class SQLiteDatabase {
    let handle: OpaquePointer

    init(path: String, readOnly: Bool) throws {
        var handle: OpaquePointer?
        // NOMUTEX: the connection never leaves the calling thread, so SQLite's per-call locking is waste.
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_close_v2(handle)
            throw SQLiteFailure(message)
        }
        self.handle = handle
    }

    deinit {
        // close_v2 defers the close until every statement is finalized, so deinit order is free.
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw failure() }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw failure()
        }
        return SQLiteStatement(statement, database: self)
    }

    func failure() -> SQLiteFailure {
        SQLiteFailure(String(cString: sqlite3_errmsg(handle)))
    }
}

private final class SQLiteStatement {
    let handle: OpaquePointer
    let database: SQLiteDatabase

    init(_ handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// SQLITE_TRANSIENT: SQLite copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: String) throws {
        try check(sqlite3_bind_text(handle, index, value, -1, Self.transient))
    }

    /// Binds `bytes` without a copy (SQLITE_STATIC): SQLite reads them in place when it steps, so
    /// they must stay valid until the step and be rebound before any later one.
    func bindWithoutCopy(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        // A null pointer would bind NULL, not an empty blob.
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            return try check(sqlite3_bind_zeroblob(handle, index, 0))
        }
        guard let count = Int32(exactly: bytes.count) else { throw SQLiteFailure("a blob of \(bytes.count) bytes is too large") }
        try check(sqlite3_bind_blob(handle, index, base, count, nil))
    }

    func insert(_ values: Int64...) throws {
        for (index, value) in values.enumerated() {
            try bind(Int32(index + 1), value)
        }
        try run()
    }

    /// Runs a statement that returns no rows, and resets it for the next bindings.
    func run() throws {
        let result = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard result == SQLITE_DONE else { throw database.failure() }
    }

    /// Advances to the next row; false when there is none.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.failure()
        }
    }

    func integer(_ column: Int32, _ name: @autoclosure () -> String) throws -> Int64 {
        try expect(SQLITE_INTEGER, column, name())
        return sqlite3_column_int64(handle, column)
    }

    func flag(_ column: Int32, _ name: @autoclosure () -> String) throws -> Bool {
        switch try integer(column, name()) {
        case 0: return false
        case 1: return true
        case let other: throw SQLiteFailure("\(name()) is \(other), not 0 or 1")
        }
    }

    /// The blob in `column`, valid until the next step.
    func blob(_ column: Int32, _ name: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try expect(SQLITE_BLOB, column, name())
        // SQLite's order: the pointer first, then the length of what it points to.
        let base = sqlite3_column_blob(handle, column)
        return UnsafeRawBufferPointer(start: base, count: Int(sqlite3_column_bytes(handle, column)))
    }

    func text(_ column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) == SQLITE_TEXT, let base = sqlite3_column_text(handle, column) else {
            return nil
        }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
    }

    func requiredText(_ column: Int32, _ name: @autoclosure () -> String) throws -> String {
        try expect(SQLITE_TEXT, column, name())
        return text(column) ?? ""
    }

    private func expect(_ type: Int32, _ column: Int32, _ name: @autoclosure () -> String) throws {
        let actual = sqlite3_column_type(handle, column)
        guard actual == type else {
            let names = [SQLITE_INTEGER: "an integer", SQLITE_FLOAT: "a float", SQLITE_TEXT: "text",
                         SQLITE_BLOB: "a blob", SQLITE_NULL: "null"]
            throw SQLiteFailure("\(name()) is \(names[actual] ?? "of type \(actual)"), not \(names[type] ?? "\(type)")")
        }
    }

    private func check(_ result: Int32) throws {
        guard result == SQLITE_OK else { throw database.failure() }
    }
}

// MARK: - File system

extension SnapshotFile {
    /// The POSIX calls the snapshot files need: durability is in the order of these calls, so they
    /// are made directly rather than through Foundation.
    enum Disk {
        static func readableFileSize(_ path: String) throws -> Int64 {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw failure(path, "cannot open") }
            defer { close(descriptor) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw failure(path, "cannot stat") }
            return Int64(status.st_size)
        }

        static func syncFile(_ path: String) throws {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw failure(path, "cannot open") }
            defer { close(descriptor) }
            guard fullSync(descriptor) == 0 else { throw failure(path, "fsync failed") }
        }

        static func syncDirectory(_ path: String) throws {
            let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard descriptor >= 0 else { throw failure(path, "cannot open directory") }
            defer { close(descriptor) }
            guard fsync(descriptor) == 0 else { throw failure(path, "fsync of the directory failed") }
        }

        /// Snapshots hold every key and value: private to the owner, like etcd's 0600 files.
        static func restrictToOwner(_ path: String) throws {
            guard chmod(path, 0o600) == 0 else { throw failure(path, "chmod failed") }
        }

        static func move(_ source: String, to destination: String) throws {
            guard rename(source, destination) == 0 else { throw failure(source, "rename to \(destination) failed") }
        }

        static func removeIfPresent(_ path: String) throws {
            guard unlink(path) == 0 || errno == ENOENT else { throw failure(path, "unlink failed") }
        }

        /// Creates `path` and its missing parents, private to the owner like etcd's data dirs.
        static func createDirectories(_ path: String) throws {
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in path.split(separator: "/") {
                prefix += component
                guard mkdir(prefix, 0o700) == 0 || errno == EEXIST else { throw failure(prefix, "mkdir failed") }
                prefix += "/"
            }
            var status = stat()
            guard stat(path, &status) == 0 else { throw failure(path, "cannot stat") }
            guard status.st_mode & S_IFMT == S_IFDIR else { throw SnapshotError.io(path: path, message: "not a directory") }
        }

        static func list(_ path: String) throws -> [String] {
            guard let handle = opendir(path) else { throw failure(path, "cannot list the directory") }
            defer { closedir(handle) }
            var names: [String] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names
        }

        static func parent(of path: String) -> String {
            guard let slash = path.lastIndex(of: "/") else { return "." }
            return slash == path.startIndex ? "/" : String(path[..<slash])
        }

        /// macOS's fsync leaves data in the drive's cache; only F_FULLFSYNC flushes it.
        private static func fullSync(_ descriptor: Int32) -> Int32 {
            #if canImport(Darwin)
            fcntl(descriptor, F_FULLFSYNC)
            #else
            fsync(descriptor)
            #endif
        }

        private static func failure(_ path: String, _ what: String) -> SnapshotError {
            .io(path: path, message: "\(what): \(String(cString: strerror(errno)))")
        }
    }
}
