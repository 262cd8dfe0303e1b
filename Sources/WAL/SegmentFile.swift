#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `open(2)`, named apart from ``SegmentFile/open(path:)`` which would shadow it inside the class.
private func openDescriptor(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}

private func renameFile(_ from: String, _ to: String) -> Int32 {
    rename(from, to)
}

/// `fdatasync(2)` where it exists; macOS has none, and only `F_FULLFSYNC` really flushes its disks.
private func syncData(_ descriptor: Int32) -> Int32 {
    #if os(Linux)
    fdatasync(descriptor)
    #else
    fcntl(descriptor, F_FULLFSYNC)
    #endif
}

/// Reserves `size` bytes of zeros; returns 0 or an errno value, like `posix_fallocate(3)`.
private func allocate(_ descriptor: Int32, _ size: Int) -> Int32 {
    #if os(Linux)
    posix_fallocate(descriptor, 0, off_t(size))
    #else
    ftruncate(descriptor, off_t(size)) == 0 ? 0 : errno
    #endif
}

/// One open segment file, written with `pwrite` and made durable with `fdatasync`. Plain system
/// calls rather than Foundation: the write path must not allocate or buffer behind our back.
final class SegmentFile {
    let path: String
    private let descriptor: Int32
    /// The injected power-failure fault (``WriteAheadLog/DiskFaults/unsyncedWritesLostOnKill``):
    /// writes wait here until a sync, so a killed process takes them with it.
    private let holdsUnsyncedWrites: Bool
    /// Whether held writes also go to the file once the oldest has waited `writebackAge` (the
    /// simulation has no real clock: there they go only by size).
    private let writebackByAge: Bool
    private var unsynced: [(offset: Int, bytes: [UInt8])] = []
    private var unsyncedBytes = 0
    private var oldestUnsynced: ContinuousClock.Instant?
    /// Like an OS's writeback, waiting writes go to the file unsynced once this many bytes wait,
    /// or when a write comes and the oldest has waited `writebackAge`: a power failure loses
    /// about the last second of unsynced writes, not all of them.
    private static let writebackBytes = 256 << 10
    private static let writebackAge = Duration.seconds(1)

    private init(path: String, descriptor: Int32, holdsUnsyncedWrites: Bool, writebackByAge: Bool) {
        self.path = path
        self.descriptor = descriptor
        self.holdsUnsyncedWrites = holdsUnsyncedWrites
        self.writebackByAge = writebackByAge
    }

    deinit {
        close(descriptor)
    }

    /// Creates a new file (failing if it exists) and preallocates `size` bytes of zeros, so that
    /// later `fdatasync` calls need not update the file size and the log is never short of space
    /// mid-write.
    static func create(path: String, size: Int, holdsUnsyncedWrites: Bool) throws -> SegmentFile {
        let descriptor = openDescriptor(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw WALError.io(operation: "create", path: path, errno: errno) }
        let file = SegmentFile(path: path, descriptor: descriptor, holdsUnsyncedWrites: holdsUnsyncedWrites,
                               writebackByAge: true)
        try file.preallocate(size: size)
        return file
    }

    static func open(path: String, holdsUnsyncedWrites: Bool, writebackByAge: Bool = true) throws -> SegmentFile {
        let descriptor = openDescriptor(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw WALError.io(operation: "open", path: path, errno: errno) }
        return SegmentFile(path: path, descriptor: descriptor, holdsUnsyncedWrites: holdsUnsyncedWrites,
                           writebackByAge: writebackByAge)
    }

    func preallocate(size: Int) throws {
        let result = allocate(descriptor, size)
        // Some file systems (tmpfs on old kernels) lack fallocate: fall back to extending the size.
        if result != 0 && ftruncate(descriptor, off_t(size)) != 0 {
            throw WALError.io(operation: "preallocate", path: path, errno: result)
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        guard holdsUnsyncedWrites else { return try writeThrough(bytes, at: offset) }
        if writebackByAge {
            let now = ContinuousClock.now
            if let oldest = oldestUnsynced, oldest.duration(to: now) > Self.writebackAge { try flush() }
            if unsynced.isEmpty { oldestUnsynced = now }
        }
        unsynced.append((offset, bytes))
        unsyncedBytes += bytes.count
        if unsyncedBytes > Self.writebackBytes { try flush() }
    }

    /// Writes what waits for a sync (see `holdsUnsyncedWrites`) to the file, without syncing it.
    func flush() throws {
        let waiting = unsynced
        unsynced = []
        unsyncedBytes = 0
        oldestUnsynced = nil
        for (offset, bytes) in waiting { try pwriteAll(bytes, at: offset) }
    }

    /// Writes `bytes` to the file now, after anything waiting for a sync.
    func writeThrough(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        try pwriteAll(bytes, at: offset)
    }

    private func pwriteAll(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = pwrite(descriptor, buffer.baseAddress! + written, buffer.count - written, off_t(offset + written))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw WALError.io(operation: "write", path: path, errno: errno)
                }
                written += result
            }
        }
    }

    /// Makes written data durable. Preallocation keeps the size unchanged, so data sync suffices.
    func dataSync() throws {
        try flush()
        if syncData(descriptor) != 0 { throw WALError.io(operation: "fdatasync", path: path, errno: errno) }
    }

    /// A full fsync, for when metadata (size) changed.
    func sync() throws {
        try flush()
        if fsync(descriptor) != 0 { throw WALError.io(operation: "fsync", path: path, errno: errno) }
    }

    /// Cuts the file at `offset` and re-extends it with zeros to `size`: erases a torn tail.
    func zeroTail(from offset: Int, size: Int) throws {
        if ftruncate(descriptor, off_t(offset)) != 0 { throw WALError.io(operation: "truncate", path: path, errno: errno) }
        try preallocate(size: max(size, offset))
        try sync()
    }

    func readAll() throws -> [UInt8] {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw WALError.io(operation: "stat", path: path, errno: errno) }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < size {
                let result = pread(descriptor, buffer.baseAddress! + done, size - done, off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw WALError.io(operation: "read", path: path, errno: errno)
                }
                if result == 0 { break }
                done += result
            }
        }
        return bytes
    }
}

/// File-system operations on the log directory.
enum Directory {
    /// Makes a create, rename or unlink in `path` durable.
    static func sync(_ path: String) throws {
        let descriptor = openDescriptor(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WALError.io(operation: "open directory", path: path, errno: errno) }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 { throw WALError.io(operation: "fsync directory", path: path, errno: errno) }
    }

    static func create(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw WALError.io(operation: "mkdir", path: path, errno: errno)
        }
    }

    static func list(_ path: String) throws -> [String] {
        guard let handle = opendir(path) else { throw WALError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func rename(_ from: String, _ to: String) throws {
        if renameFile(from, to) != 0 { throw WALError.io(operation: "rename", path: from, errno: errno) }
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 { throw WALError.io(operation: "unlink", path: path, errno: errno) }
    }
}
