/// CRC-32C (Castagnoli): the checksum of etcd's WAL records and of its `HashKV`. Better error
/// detection than CRC-32 for short records, and hardware-accelerated on most CPUs (this portable
/// version uses slicing-by-8 tables).
///
/// Use the static `update` to continue a stored checksum, or a value to accumulate one:
/// `var crc = CRC32C(); crc.update(bytes); crc.value`.
public struct CRC32C: Sendable {
    /// The checksum of everything given to `update` so far.
    public private(set) var value: UInt32 = 0

    /// A checksum of no bytes.
    public init() {}

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let current = value
        value = bytes.withContiguousStorageIfAvailable { Self.update(current, UnsafeRawBufferPointer($0)) }
            ?? Self.update(current, Array(bytes))
    }

    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][byte]
                tables[slice][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Continues the checksum `crc` (0 to start) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var value = ~crc
        var position = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { tables in
            let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
            let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
            while count - position >= 8 {
                let low = value ^ (UInt32(bytes[position]) | UInt32(bytes[position + 1]) << 8
                    | UInt32(bytes[position + 2]) << 16 | UInt32(bytes[position + 3]) << 24)
                let high = UInt32(bytes[position + 4]) | UInt32(bytes[position + 5]) << 8
                    | UInt32(bytes[position + 6]) << 16 | UInt32(bytes[position + 7]) << 24
                value = t7[Int(low & 0xFF)] ^ t6[Int((low >> 8) & 0xFF)] ^ t5[Int((low >> 16) & 0xFF)]
                    ^ t4[Int(low >> 24)] ^ t3[Int(high & 0xFF)] ^ t2[Int((high >> 8) & 0xFF)]
                    ^ t1[Int((high >> 16) & 0xFF)] ^ t0[Int(high >> 24)]
                position += 8
            }
            while position < count {
                value = (value >> 8) ^ t0[Int((value ^ UInt32(bytes[position])) & 0xFF)]
                position += 1
            }
        }
        return ~value
    }

    /// Continues the checksum `crc` (0 to start) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }

    /// Continues the checksum `crc` (0 to start) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }
}
