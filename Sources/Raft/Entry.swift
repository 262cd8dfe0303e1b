/// What an ``Entry`` carries: opaque application data or a membership change.
public enum EntryType: UInt8, Sendable, Hashable {
    /// Application data, opaque to Raft. An empty normal entry is what a new leader appends to commit
    /// its term.
    case normal = 0
    /// An encoded ``ConfChange``; the application applies it with ``RawNode/applyConfChange(_:)``.
    case confChange = 1
}

/// One slot of the replicated log.
public struct Entry: Sendable, Hashable {
    /// The term of the leader that created the entry.
    public var term: UInt64
    /// The position in the log, starting at 1.
    public var index: UInt64
    /// Whether `data` is application data or a conf change.
    public var type: EntryType
    /// Opaque to Raft for normal entries.
    public var data: [UInt8]

    /// Creates an entry.
    public init(term: UInt64 = 0, index: UInt64 = 0, type: EntryType = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.type = type
        self.data = data
    }

    /// The size this entry counts for in message-size and in-flight-byte limits: the payload plus the
    /// fixed fields, so that empty entries still cost something and a window of them stays bounded.
    public var byteSize: UInt64 { UInt64(data.count) + 17 }
}

extension Array where Element == Entry {
    /// The sum of ``Entry/byteSize`` over the entries.
    var byteSize: UInt64 {
        var total: UInt64 = 0
        for entry in self { total += entry.byteSize }
        return total
    }

    /// The sum of payload sizes, which is what the uncommitted-size limit counts (an empty entry is
    /// free there so that a new leader's empty entry is never refused).
    var payloadSize: UInt64 {
        var total: UInt64 = 0
        for entry in self { total += UInt64(entry.data.count) }
        return total
    }

    /// The longest prefix whose total ``Entry/byteSize`` stays within `maxSize`, but never less than one
    /// entry, so that an oversized entry still makes progress.
    func limited(to maxSize: UInt64) -> [Entry] {
        guard count > 1, maxSize != .max else { return self }
        var size = self[0].byteSize
        var end = 1
        while end < count {
            size += self[end].byteSize
            if size > maxSize { break }
            end += 1
        }
        return end == count ? self : Array(self[0..<end])
    }
}
