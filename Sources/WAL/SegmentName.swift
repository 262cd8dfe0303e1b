/// A segment's file name: `<sequence>-<first index>.wal`, both 16 hex digits, as in etcd. The
/// sequence orders segments and reveals a missing one; the first index (the index the next entry had
/// when the segment was cut) tells which segments a snapshot makes obsolete.
struct SegmentName: Hashable, Comparable, Sendable {
    var sequence: UInt64
    var firstIndex: UInt64

    var fileName: String { hex(sequence) + "-" + hex(firstIndex) + ".wal" }

    init(sequence: UInt64, firstIndex: UInt64) {
        self.sequence = sequence
        self.firstIndex = firstIndex
    }

    init?(fileName: String) {
        guard fileName.hasSuffix(".wal") else { return nil }
        let parts = fileName.dropLast(4).split(separator: "-")
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
              let sequence = UInt64(parts[0], radix: 16), let first = UInt64(parts[1], radix: 16) else { return nil }
        self.sequence = sequence
        self.firstIndex = first
    }

    static func < (lhs: SegmentName, rhs: SegmentName) -> Bool { lhs.sequence < rhs.sequence }

    private func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
