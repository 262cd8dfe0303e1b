import Raft
import Checksum

/// The kinds of records in a segment.
enum WALRecordType: UInt8, Sendable {
    /// A Raft log entry.
    case entry = 1
    /// A Raft hard state (term, vote, commit).
    case hardState = 2
    /// A snapshot was saved at (index, term): replay starts after it, and segments before it may go.
    case snapshotMarker = 3
    /// Application metadata (e.g. cluster and member IDs), first in every segment.
    case metadata = 4
    /// The previous segment's final checksum, first in every segment: chains the files together so
    /// that a missing or swapped segment is detected.
    case chain = 5
}

/// Record framing. Every record is a 16-byte header and a payload:
///
/// ```
/// offset 0  UInt32  payload length
///        4  UInt8   record type
///        5  3 bytes zero
///        8  UInt32  CRC-32C of bytes 0..<8 (so a damaged length is never trusted)
///       12  UInt32  CRC-32C of type + payload, chained: seeded with the previous record's value
/// ```
///
/// All integers are little-endian. A header of zeros marks the end of the data in a preallocated
/// segment.
enum WALRecordFormat {
    static let headerSize = 16

    /// Appends a framed record to `buffer` and returns the new chained checksum.
    static func append(type: WALRecordType, payload: [UInt8], chainedCRC: UInt32, to buffer: inout [UInt8]) -> UInt32 {
        var header = [UInt8](repeating: 0, count: headerSize)
        store32(UInt32(payload.count), into: &header, at: 0)
        header[4] = type.rawValue
        store32(CRC32C.update(0, header[0..<8]), into: &header, at: 8)
        let dataCRC = CRC32C.update(CRC32C.update(chainedCRC, [type.rawValue]), payload)
        store32(dataCRC, into: &header, at: 12)
        buffer.append(contentsOf: header)
        buffer.append(contentsOf: payload)
        return dataCRC
    }

    static func store32(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        for shift in 0..<4 { bytes[offset + shift] = UInt8(truncatingIfNeeded: value >> (8 * shift)) }
    }

    static func load32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for shift in (0..<4).reversed() { value = value << 8 | UInt32(bytes[offset + shift]) }
        return value
    }
}

/// Little-endian encoding of the payloads.
struct PayloadWriter {
    var bytes: [UInt8] = []

    mutating func put(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func put(_ value: UInt8) { bytes.append(value) }

    mutating func put(ids: [UInt64]) {
        put(UInt64(ids.count))
        for id in ids { put(id) }
    }
}

struct PayloadReader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    struct Truncated: Error {}

    mutating func uint64() throws -> UInt64 {
        guard bytes.endIndex - position >= 8 else { throw Truncated() }
        var value: UInt64 = 0
        for offset in (0..<8).reversed() { value = value << 8 | UInt64(bytes[position + offset]) }
        position += 8
        return value
    }

    mutating func uint8() throws -> UInt8 {
        guard position < bytes.endIndex else { throw Truncated() }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func ids() throws -> [UInt64] {
        let count = try uint64()
        guard count <= UInt64(bytes.endIndex - position) / 8 else { throw Truncated() }
        return try (0..<count).map { _ in try uint64() }
    }

    var rest: [UInt8] { Array(bytes[position...]) }
}

/// Payload encodings of the Raft types the log stores.
enum WALPayload {
    static func entry(_ entry: Entry) -> [UInt8] {
        var writer = PayloadWriter()
        writer.bytes.reserveCapacity(17 + entry.data.count)
        writer.put(entry.term)
        writer.put(entry.index)
        writer.put(entry.type.rawValue)
        writer.bytes.append(contentsOf: entry.data)
        return writer.bytes
    }

    static func decodeEntry(_ bytes: ArraySlice<UInt8>) throws -> Entry {
        var reader = PayloadReader(bytes)
        let term = try reader.uint64()
        let index = try reader.uint64()
        guard let type = EntryType(rawValue: try reader.uint8()) else { throw PayloadReader.Truncated() }
        return Entry(term: term, index: index, type: type, data: reader.rest)
    }

    static func hardState(_ state: HardState) -> [UInt8] {
        var writer = PayloadWriter()
        writer.put(state.term)
        writer.put(state.vote)
        writer.put(state.commit)
        return writer.bytes
    }

    static func decodeHardState(_ bytes: ArraySlice<UInt8>) throws -> HardState {
        var reader = PayloadReader(bytes)
        return HardState(term: try reader.uint64(), vote: try reader.uint64(), commit: try reader.uint64())
    }

    static func snapshotMarker(_ marker: WALSnapshotMarker) -> [UInt8] {
        var writer = PayloadWriter()
        writer.put(marker.index)
        writer.put(marker.term)
        writer.put(ids: marker.confState.voters)
        writer.put(ids: marker.confState.learners)
        return writer.bytes
    }

    static func decodeSnapshotMarker(_ bytes: ArraySlice<UInt8>) throws -> WALSnapshotMarker {
        var reader = PayloadReader(bytes)
        let index = try reader.uint64()
        let term = try reader.uint64()
        let voters = try reader.ids()
        let learners = try reader.ids()
        return WALSnapshotMarker(index: index, term: term, confState: ConfState(voters: voters, learners: learners))
    }
}
