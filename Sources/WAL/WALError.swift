/// Why the write-ahead log could not be opened or written.
public enum WALError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A record before the tail failed its checksum or framing: the log is damaged. Refusing to open
    /// is deliberate; serving or dropping the data silently would break durability promises.
    case corruption(file: String, offset: Int, reason: String)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// `create` found an existing log.
    case alreadyExists(directory: String)
    /// `open` found no segment files.
    case notFound(directory: String)
    /// The snapshot to recover from has no marker in the log (or a marker with another term).
    case snapshotNotFound(index: UInt64, term: UInt64)
    /// The log was closed, or a previous write failed and left it unusable.
    case closed

    public var description: String {
        switch self {
        case .corruption(let file, let offset, let reason):
            "wal: corrupt record in \(file) at offset \(offset): \(reason)"
        case .io(let operation, let path, let errno):
            "wal: \(operation) \(path) failed with errno \(errno)"
        case .alreadyExists(let directory):
            "wal: a log already exists in \(directory)"
        case .notFound(let directory):
            "wal: no log segments in \(directory)"
        case .snapshotNotFound(let index, let term):
            "wal: no snapshot marker for index \(index) term \(term)"
        case .closed:
            "wal: closed"
        }
    }
}
