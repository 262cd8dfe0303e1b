import Foundation
import Synchronization

/// Unique ids for requests and leases, built like etcd's `idutil.Generator`: the member id's low
/// 16 bits, then the start time in milliseconds (40 bits) and a counter (8 bits) as one 48-bit
/// number that is incremented per id. Unique across members (different prefixes) and across
/// restarts of one member (the clock moved on by more than the ids used).
package final class IDGenerator: Sendable {
    private static let suffixBits: UInt64 = 48
    private let prefix: UInt64
    private let suffix: Atomic<UInt64>

    package init(memberID: UInt64, now: Date = Date()) {
        prefix = (memberID & 0xFFFF) << Self.suffixBits
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        suffix = Atomic((milliseconds & ((1 << 40) - 1)) << 8)
    }

    package func next() -> UInt64 {
        let suffix = suffix.add(1, ordering: .relaxed).newValue
        return prefix | (suffix & ((1 << Self.suffixBits) - 1))
    }
}
