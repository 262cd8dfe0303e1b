/// A 128-bit stand-in for a key that orders like the key: what the nodes store inline, so a search
/// inside a node reads only the node's own memory.
///
/// Byte-string keys live in their own heap buffers, and reaching one costs a cache miss; a summary
/// that decides most comparisons on its own, and every comparison of two short keys, saves those.
package struct BTreeKeySummary: Equatable, Sendable {
    /// Compared first.
    package var high: UInt64
    /// Compared when `high` ties.
    package var low: UInt64

    /// A summary.
    package init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Three-way comparison of the two words, `high` first.
    @inline(__always)
    func order(_ other: BTreeKeySummary) -> Int {
        if high != other.high { return high < other.high ? -1 : 1 }
        if low != other.low { return low < other.low ? -1 : 1 }
        return 0
    }
}

/// A key the B+-tree can order.
///
/// Besides a total order, a key offers an `orderSummary` (see `BTreeKeySummary`): when two
/// summaries differ they give the keys' order, and when they are equal and complete the keys are
/// equal. Only equal, incomplete summaries make the tree compare the keys themselves.
package protocol BTreeKey: BTreeElement, Sendable {
    /// A summary such that `a.orderSummary < b.orderSummary` implies `a < b`.
    var orderSummary: BTreeKeySummary { get }

    /// Whether two keys with this same summary are necessarily equal.
    static func summaryIsComplete(_ summary: BTreeKeySummary) -> Bool

    /// Three-way comparison: negative if `lhs < rhs`, zero if equal, positive if `lhs > rhs`.
    static func compare(_ lhs: Self, _ rhs: Self) -> Int
}

/// Byte strings order like Go's `bytes.Compare`, the order of etcd's key space.
extension Array: BTreeKey where Element == UInt8 {
    /// Bytes 0-7 big-endian in `high`; bytes 8-14 big-endian then the length (capped at 16) in
    /// `low`, the missing bytes of a shorter key read as zero.
    ///
    /// Zero padding alone would tie "a" with "a\0"; the length byte breaks the tie the way
    /// `bytes.Compare` does (a proper prefix sorts first), and makes the summary of a key of up to
    /// 15 bytes a complete description of it.
    package var orderSummary: BTreeKeySummary {
        withUnsafeBufferPointer { buffer in
            let count = buffer.count
            if count >= 16 {
                let raw = UnsafeRawPointer(buffer.baseAddress!)
                let high = raw.loadUnaligned(as: UInt64.self).bigEndian
                let low = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian
                return BTreeKeySummary(high: high, low: low & ~0xFF | 16)
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            if count >= 8 {
                high = UnsafeRawPointer(buffer.baseAddress!).loadUnaligned(as: UInt64.self).bigEndian
            } else {
                for index in 0..<8 { high = high << 8 | (index < count ? UInt64(buffer[index]) : 0) }
            }
            for index in 8..<15 {
                low = low << 8 | (index < count ? UInt64(buffer[index]) : 0)
            }
            return BTreeKeySummary(high: high, low: low << 8 | UInt64(count))
        }
    }

    /// Complete when the length byte says the key has at most 15 bytes.
    @inline(__always)
    package static func summaryIsComplete(_ summary: BTreeKeySummary) -> Bool {
        summary.low & 0xFF < 16
    }

    /// Lexicographic byte comparison, eight bytes at a time.
    package static func compare(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
        lhs.withUnsafeBufferPointer { left in
            rhs.withUnsafeBufferPointer { right in
                let common = Swift.min(left.count, right.count)
                var index = 0
                if common >= 8 {
                    let leftRaw = UnsafeRawPointer(left.baseAddress!)
                    let rightRaw = UnsafeRawPointer(right.baseAddress!)
                    while index + 8 <= common {
                        let l = leftRaw.loadUnaligned(fromByteOffset: index, as: UInt64.self).bigEndian
                        let r = rightRaw.loadUnaligned(fromByteOffset: index, as: UInt64.self).bigEndian
                        if l != r { return l < r ? -1 : 1 }
                        index += 8
                    }
                }
                while index < common {
                    let l = left[index], r = right[index]
                    if l != r { return l < r ? -1 : 1 }
                    index += 1
                }
                return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
            }
        }
    }
}
