/// A key the B+-tree can order.
///
/// Besides a total order, a key offers an `orderPrefix`: a 64-bit summary that the nodes store inline
/// next to the keys, so that most comparisons during a descent touch only the node's own contiguous
/// memory. Byte-string keys live in their own heap buffers; without the prefix every comparison of a
/// binary search would be a cache miss.
package protocol BTreeKey: Sendable {
    /// A summary such that `a.orderPrefix < b.orderPrefix` implies `a < b`.
    /// Equal prefixes say nothing; `compare` decides then.
    var orderPrefix: UInt64 { get }

    /// Three-way comparison: negative if `lhs < rhs`, zero if equal, positive if `lhs > rhs`.
    static func compare(_ lhs: Self, _ rhs: Self) -> Int
}

/// Byte strings order like Go's `bytes.Compare`, the order of etcd's key space.
extension Array: BTreeKey where Element == UInt8 {
    /// The first eight bytes, big-endian, zero-padded.
    package var orderPrefix: UInt64 {
        withUnsafeBufferPointer { buffer in
            if buffer.count >= 8 {
                return UnsafeRawPointer(buffer.baseAddress!).loadUnaligned(as: UInt64.self).bigEndian
            }
            var prefix: UInt64 = 0
            for index in 0..<8 {
                prefix <<= 8
                if index < buffer.count { prefix |= UInt64(buffer[index]) }
            }
            return prefix
        }
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
