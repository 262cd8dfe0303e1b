import Raft

/// The peer protocol's bytes: frames, the greeting that opens a connection, and Raft messages.
///
/// A frame is a 4-byte big-endian length (of what follows), a kind byte and a payload. Every
/// connection starts with a ``PeerHello`` from the dialer, answered by `accepted` or `refused`
/// (with the reason); then, by the stream kind the hello named:
/// - `raft`: the dialer sends `raftMessages` frames, each a batch of messages, never answered;
/// - `snapshot`: one `snapshotHeader` (the Raft message), `snapshotChunk`s of the SQLite file, one
///   `snapshotEnd`; the receiver answers `snapshotDone` or `refused`;
/// - `request`: `request` frames answered by `response` frames with the same correlation id.
enum PeerFrameKind: UInt8 {
    case hello = 1
    case accepted = 2
    case refused = 3
    case raftMessages = 4
    case snapshotHeader = 5
    case snapshotChunk = 6
    case snapshotEnd = 7
    case snapshotDone = 8
    case request = 9
    case response = 10
}

enum PeerStreamKind: UInt8 {
    case raft = 1
    case snapshot = 2
    case request = 3
}

/// Opens every peer connection: who is calling whom, in which cluster, for what.
struct PeerHello: Equatable {
    static let protocolVersion: UInt8 = 1

    var stream: PeerStreamKind
    /// 0 from a member still joining, which does not know the cluster's id yet (requests only).
    var clusterID: UInt64
    var from: UInt64
    /// 0 when the dialer does not know the id of the member it calls (joining).
    var to: UInt64

    func encoded() -> [UInt8] {
        var writer = WireWriter()
        writer.byte(Self.protocolVersion)
        writer.byte(stream.rawValue)
        writer.word(clusterID)
        writer.word(from)
        writer.word(to)
        return writer.bytes
    }

    init(stream: PeerStreamKind, clusterID: UInt64, from: UInt64, to: UInt64) {
        self.stream = stream
        self.clusterID = clusterID
        self.from = from
        self.to = to
    }

    init(decoding bytes: [UInt8]) throws(PeerWireError) {
        var reader = WireReader(bytes)
        let version = try reader.byte()
        guard version == Self.protocolVersion else { throw .unsupportedVersion(version) }
        guard let stream = PeerStreamKind(rawValue: try reader.byte()) else { throw .malformed("stream kind") }
        self.stream = stream
        clusterID = try reader.word()
        from = try reader.word()
        to = try reader.word()
    }
}

enum PeerWireError: Error, CustomStringConvertible, Equatable {
    case truncated
    case malformed(String)
    case unsupportedVersion(UInt8)
    case frameTooLarge(Int)

    var description: String {
        switch self {
        case .truncated: "peer frame truncated"
        case .malformed(let what): "malformed peer frame (\(what))"
        case .unsupportedVersion(let version): "unsupported peer protocol version \(version)"
        case .frameTooLarge(let size): "peer frame of \(size) bytes is over the limit"
        }
    }
}

/// Raft messages on the wire: fixed-width integers, length-prefixed byte strings, in `Message`'s
/// field order. Snapshot data never travels inside a message (the file has its own stream).
enum RaftMessageCodec {
    static func encode(_ messages: [Message]) -> [UInt8] {
        var writer = WireWriter()
        writer.int32(messages.count)
        for message in messages { encode(message, into: &writer) }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(PeerWireError) -> [Message] {
        var reader = WireReader(bytes)
        let count = try reader.int32()
        var messages: [Message] = []
        messages.reserveCapacity(min(count, 4096))
        for _ in 0..<count { messages.append(try decode(from: &reader)) }
        guard reader.isAtEnd else { throw .malformed("bytes after the messages") }
        return messages
    }

    static func encode(_ message: Message, into writer: inout WireWriter) {
        writer.byte(message.type.rawValue)
        writer.word(message.to)
        writer.word(message.from)
        writer.word(message.term)
        writer.word(message.logTerm)
        writer.word(message.index)
        writer.word(message.commit)
        writer.byte(message.reject ? 1 : 0)
        writer.word(message.rejectHint)
        writer.blob(message.context)
        writer.int32(message.entries.count)
        for entry in message.entries {
            writer.word(entry.term)
            writer.word(entry.index)
            writer.byte(entry.type.rawValue)
            writer.blob(entry.data)
        }
        if let snapshot = message.snapshot {
            writer.byte(1)
            writer.word(snapshot.metadata.index)
            writer.word(snapshot.metadata.term)
            writer.words(snapshot.metadata.confState.voters)
            writer.words(snapshot.metadata.confState.learners)
        } else {
            writer.byte(0)
        }
    }

    static func decode(from reader: inout WireReader) throws(PeerWireError) -> Message {
        guard let type = MessageType(rawValue: try reader.byte()) else { throw .malformed("message type") }
        var message = Message(type: type)
        message.to = try reader.word()
        message.from = try reader.word()
        message.term = try reader.word()
        message.logTerm = try reader.word()
        message.index = try reader.word()
        message.commit = try reader.word()
        message.reject = try reader.byte() != 0
        message.rejectHint = try reader.word()
        message.context = try reader.blob()
        let entryCount = try reader.int32()
        message.entries.reserveCapacity(min(entryCount, 65536))
        for _ in 0..<entryCount {
            let term = try reader.word()
            let index = try reader.word()
            guard let entryType = EntryType(rawValue: try reader.byte()) else { throw .malformed("entry type") }
            message.entries.append(Entry(term: term, index: index, type: entryType, data: try reader.blob()))
        }
        if try reader.byte() != 0 {
            let index = try reader.word()
            let term = try reader.word()
            let voters = try reader.words()
            let learners = try reader.words()
            message.snapshot = Snapshot(metadata: SnapshotMetadata(
                index: index, term: term, confState: ConfState(voters: voters, learners: learners)))
        }
        return message
    }
}

/// Appends big-endian integers and length-prefixed byte strings.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func word(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func int32(_ value: Int) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func blob(_ value: [UInt8]) {
        int32(value.count)
        bytes.append(contentsOf: value)
    }

    mutating func words(_ values: [UInt64]) {
        int32(values.count)
        for value in values { word(value) }
    }
}

/// Reads what `WireWriter` wrote; every read checks the remaining length.
struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() throws(PeerWireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func word() throws(PeerWireError) -> UInt64 {
        guard bytes.count - offset >= 8 else { throw .truncated }
        var value: UInt64 = 0
        for index in offset..<offset + 8 { value = value << 8 | UInt64(bytes[index]) }
        offset += 8
        return value
    }

    mutating func int32() throws(PeerWireError) -> Int {
        guard bytes.count - offset >= 4 else { throw .truncated }
        var value: UInt32 = 0
        for index in offset..<offset + 4 { value = value << 8 | UInt32(bytes[index]) }
        offset += 4
        return Int(value)
    }

    mutating func blob() throws(PeerWireError) -> [UInt8] {
        let count = try int32()
        guard bytes.count - offset >= count else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func words() throws(PeerWireError) -> [UInt64] {
        let count = try int32()
        guard bytes.count - offset >= count * 8 else { throw .truncated }
        var values: [UInt64] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try word()) }
        return values
    }

    /// What is left, for payloads that end with an opaque body.
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
