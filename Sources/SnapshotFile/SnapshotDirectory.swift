#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The member's snapshot folder (`<data-dir>/member/snap`), holding files named
/// "%016x-%016x.snap.db" (term-index) like etcd's snapshots. Other files in it are left alone.
///
/// Not meant for concurrent use: `prune` removes ".tmp" files that a concurrent `save` may be writing.
package struct SnapshotDirectory: Sendable {
    package let path: String

    /// Opens the folder, creating it and its parents if missing.
    package init(path: String) throws {
        try SnapshotFile.Disk.createDirectories(path)
        self.path = path
    }

    package func fileName(term: UInt64, index: UInt64) -> String {
        "\(Self.hex(term))-\(Self.hex(index)).snap.db"
    }

    /// Writes `contents` durably under its term and index; returns the path written.
    /// `beforeRename` is for fault tests (see ``SnapshotFile/write(_:to:beforeRename:)``).
    package func save(_ contents: SnapshotContents, beforeRename: () -> Void = {}) throws -> String {
        let file = "\(path)/\(fileName(term: contents.term, index: contents.index))"
        try SnapshotFile.write(contents, to: file, beforeRename: beforeRename)
        return file
    }

    /// Where a snapshot being received from the leader is written before it is adopted.
    package func receivingPath(tag: UInt64) -> String {
        "\(path)/receiving-\(Self.hex(tag)).snap.db.part"
    }

    /// Deletes files of receives a crash interrupted (at start-up, before any receive begins).
    package func removeInterruptedReceives() throws {
        for name in try SnapshotFile.Disk.list(path) where name.hasSuffix(".snap.db.part") {
            try SnapshotFile.Disk.removeIfPresent("\(path)/\(name)")
        }
    }

    /// Makes a received snapshot file this member's own, durably, under its term and index.
    /// - Returns: its new path.
    package func adopt(_ received: String, term: UInt64, index: UInt64) throws -> String {
        let file = "\(path)/\(fileName(term: term, index: index))"
        try SnapshotFile.Disk.syncFile(received)
        try SnapshotFile.Disk.restrictToOwner(received)
        try SnapshotFile.Disk.move(received, to: file)
        try SnapshotFile.Disk.syncDirectory(path)
        return file
    }

    /// The path of the snapshot file at `term` and `index` (which may not exist).
    package func path(term: UInt64, index: UInt64) -> String {
        "\(path)/\(fileName(term: term, index: index))"
    }

    /// The newest valid snapshot; corrupt ones are skipped (returned in `skipped` with their errors)
    /// so the caller can log them; nil if the folder holds no snapshot file.
    ///
    /// - Throws: the folder cannot be listed, or snapshot files exist but none of them is valid:
    ///   starting empty then would silently drop the state the log no longer holds.
    package func loadNewest() throws -> (contents: SnapshotContents, path: String, skipped: [(path: String, error: any Error)])? {
        let files = try snapshotFiles()
        guard !files.isEmpty else { return nil }
        var skipped: [(path: String, error: any Error)] = []
        for file in files {
            do {
                return (try SnapshotFile.read(from: file.path), file.path, skipped)
            } catch {
                skipped.append((file.path, error))
            }
        }
        throw SnapshotError.corrupt(
            path: path,
            reason: "none of its \(files.count) snapshot files is valid: "
                + skipped.map { "\($0.error)" }.joined(separator: "; "))
    }

    /// The newest snapshot's index, from the file names alone (nil if none). The file may still
    /// turn out corrupt, in which case `loadNewest` falls back to an older one.
    package func newestIndex() -> UInt64? {
        (try? snapshotFiles())?.first?.index
    }

    /// The newest snapshot file's size in bytes (nil if there is none).
    package func newestFileSize() -> Int64? {
        guard let newest = (try? snapshotFiles())?.first else { return nil }
        var status = stat()
        return stat(newest.path, &status) == 0 ? Int64(status.st_size) : nil
    }

    /// Deletes all but the newest `keep` snapshot files, and leftover ".tmp" files of interrupted saves.
    package func prune(keep: Int) throws {
        precondition(keep >= 0, "prune(keep:) needs a count of at least 0")
        for file in try snapshotFiles().dropFirst(keep) {
            try SnapshotFile.Disk.removeIfPresent(file.path)
        }
        for name in try SnapshotFile.Disk.list(path) where name.hasSuffix(".snap.db.tmp") {
            try SnapshotFile.Disk.removeIfPresent("\(path)/\(name)")
        }
    }

    /// The snapshot files, newest (highest index, then term) first.
    private func snapshotFiles() throws -> [(path: String, term: UInt64, index: UInt64)] {
        try SnapshotFile.Disk.list(path).compactMap { name -> (path: String, term: UInt64, index: UInt64)? in
            guard let (term, index) = Self.parse(name) else { return nil }
            return ("\(path)/\(name)", term, index)
        }.sorted { ($0.index, $0.term) > ($1.index, $1.term) }
    }

    /// The term and index of a name made by `fileName`; nil for any other name.
    private static func parse(_ name: String) -> (term: UInt64, index: UInt64)? {
        let utf8 = Array(name.utf8)
        let suffix = Array(".snap.db".utf8)
        guard utf8.count == 33 + suffix.count, utf8[16] == UInt8(ascii: "-"), utf8[33...].elementsEqual(suffix),
              let term = hexValue(utf8[0..<16]), let index = hexValue(utf8[17..<33]) else { return nil }
        return (term, index)
    }

    /// Lowercase only, as `fileName` writes: another spelling is not one of our files.
    private static func hexValue(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for digit in digits {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(digit - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(digit - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return value
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
