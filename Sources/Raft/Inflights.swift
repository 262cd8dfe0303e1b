/// The window of append messages sent to one follower and not yet acknowledged, bounded by count and
/// by bytes: the flow control that lets the leader pipeline appends without flooding a slow follower.
///
/// A ring buffer of (last index, bytes) per message; acknowledgements free every message up to an
/// index, in order.
struct Inflights {
    /// The most messages in flight.
    let capacity: Int
    /// The most bytes in flight; 0 for no limit (as in etcd).
    let maxBytes: UInt64
    private var buffer: [(index: UInt64, bytes: UInt64)] = []
    private var start = 0
    private(set) var count = 0
    private(set) var bytes: UInt64 = 0

    init(capacity: Int, maxBytes: UInt64) {
        precondition(capacity > 0, "the in-flight window needs room for at least one message")
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    /// True when no further message may be sent.
    var isFull: Bool { count == capacity || (maxBytes != 0 && bytes >= maxBytes) }

    /// Records a sent message whose last entry is `index`. Indexes must increase.
    mutating func add(index: UInt64, bytes messageBytes: UInt64) {
        precondition(!isFull, "cannot add into a full inflights")
        if count == buffer.count {
            // The ring is full but the window is not: grow, unrolling so the order is kept. Growing
            // lazily keeps idle followers cheap.
            var grown: [(index: UInt64, bytes: UInt64)] = []
            grown.reserveCapacity(min(capacity, max(4, buffer.count * 2)))
            for offset in 0..<count { grown.append(buffer[(start + offset) % buffer.count]) }
            grown.append((index, messageBytes))
            buffer = grown
            start = 0
        } else {
            buffer[(start + count) % buffer.count] = (index, messageBytes)
        }
        count += 1
        bytes += messageBytes
    }

    /// Frees every message whose last index is at or below `index`.
    mutating func freeLE(_ index: UInt64) {
        while count > 0 {
            let head = buffer[start]
            if head.index > index { break }
            bytes -= head.bytes
            start = (start + 1) % buffer.count
            count -= 1
        }
        if count == 0 { start = 0 }
    }

    /// Frees the oldest message; a heartbeat response proves the follower is alive, so a full window
    /// gets one slot back to keep a stuck follower probing.
    mutating func freeFirstOne() {
        guard count > 0 else { return }
        freeLE(buffer[start].index)
    }

    mutating func reset() {
        count = 0
        start = 0
        bytes = 0
        buffer.removeAll(keepingCapacity: true)
    }
}
