/// A point in the store's history: `main` is the revision of one applied write (a Put, a
/// DeleteRange or a Txn: every change it makes shares it), `sub` orders the changes within it.
///
/// This is etcd's `revision{main, sub}`; `main` is what clients see as a revision.
package struct Revision: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The revision of the applied write.
    package var main: Int64
    /// The index of the change within that write.
    package var sub: Int64

    /// A revision.
    package init(main: Int64, sub: Int64 = 0) {
        self.main = main
        self.sub = sub
    }

    /// The zero revision stands for "none": real revisions start at 1.
    package static let none = Revision(main: 0)

    /// Ordered by `main`, then `sub`.
    package static func < (lhs: Revision, rhs: Revision) -> Bool {
        lhs.main != rhs.main ? lhs.main < rhs.main : lhs.sub < rhs.sub
    }

    /// `main_sub`, as etcd prints revisions.
    package var description: String { "\(main)_\(sub)" }

    /// etcd's on-disk form: 8 bytes big-endian main, `_`, 8 bytes big-endian sub, and a trailing
    /// `t` for tombstones. Used by the hashes, so they match etcd's byte for byte.
    func bytes(tombstone: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(18)
        withUnsafeBytes(of: UInt64(bitPattern: main).bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "_"))
        withUnsafeBytes(of: UInt64(bitPattern: sub).bigEndian) { bytes.append(contentsOf: $0) }
        if tombstone { bytes.append(UInt8(ascii: "t")) }
        return bytes
    }
}

extension Revision: BTreeKey {
    /// `main` and `sub` with their sign bits flipped, so unsigned order is signed order: the
    /// whole revision, so a search never needs `compare`.
    package var orderSummary: BTreeKeySummary {
        BTreeKeySummary(high: UInt64(bitPattern: main) ^ (1 << 63), low: UInt64(bitPattern: sub) ^ (1 << 63))
    }

    /// Always: the summary is the revision.
    package static func summaryIsComplete(_ summary: BTreeKeySummary) -> Bool { true }

    /// Three-way comparison in revision order.
    package static func compare(_ lhs: Revision, _ rhs: Revision) -> Int {
        lhs == rhs ? 0 : (lhs < rhs ? -1 : 1)
    }
}
