import EtcdProto
import Foundation
import SwiftProtobuf

/// A change proposed through Raft: the data of one log entry (etcd's `InternalRaftRequest`).
///
/// Encoded as a kind byte, the proposer's request id (8 bytes, little-endian; how the member
/// that proposed it finds its waiting caller when the entry is applied) and the protobuf body.
package enum InternalRequest: Sendable {
    case put(Etcdserverpb_PutRequest)
    case deleteRange(Etcdserverpb_DeleteRangeRequest)
    case txn(Etcdserverpb_TxnRequest)
    case compaction(Etcdserverpb_CompactionRequest)
    /// The proposer has already chosen the id and applied etcd's minimum TTL.
    case leaseGrant(Etcdserverpb_LeaseGrantRequest)
    case leaseRevoke(Etcdserverpb_LeaseRevokeRequest)
    /// Remaining TTLs, recorded so that a restart or a new leader neither extends nor cuts them.
    case leaseCheckpoint(Etcdserverpb_LeaseCheckpointRequest)
    case alarm(Etcdserverpb_AlarmRequest)
    /// A started member's name and client URLs (etcd's publish).
    case memberAttributes(Etcdserverpb_Member)
    /// New peer URLs of a member (MemberUpdate).
    case memberPeerURLs(Etcdserverpb_Member)

    private var kind: UInt8 {
        switch self {
        case .put: 1
        case .deleteRange: 2
        case .txn: 3
        case .compaction: 4
        case .leaseGrant: 5
        case .leaseRevoke: 6
        case .leaseCheckpoint: 7
        case .alarm: 8
        case .memberAttributes: 9
        case .memberPeerURLs: 10
        }
    }

    package func encoded(id: UInt64) throws -> [UInt8] {
        let body: [UInt8]
        switch self {
        case .put(let message): body = try message.serializedBytes()
        case .deleteRange(let message): body = try message.serializedBytes()
        case .txn(let message): body = try message.serializedBytes()
        case .compaction(let message): body = try message.serializedBytes()
        case .leaseGrant(let message): body = try message.serializedBytes()
        case .leaseRevoke(let message): body = try message.serializedBytes()
        case .leaseCheckpoint(let message): body = try message.serializedBytes()
        case .alarm(let message): body = try message.serializedBytes()
        case .memberAttributes(let message): body = try message.serializedBytes()
        case .memberPeerURLs(let message): body = try message.serializedBytes()
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(9 + body.count)
        bytes.append(kind)
        withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: body)
        return bytes
    }

    /// Decodes an entry's data; throws for data this version does not know (never skipped
    /// silently: every member must apply the same entries the same way).
    package static func decode(_ data: [UInt8]) throws -> (id: UInt64, request: InternalRequest) {
        guard data.count >= 9 else { throw DecodingError.truncated }
        var id: UInt64 = 0
        for shift in 0..<8 { id |= UInt64(data[1 + shift]) << (8 * UInt64(shift)) }
        let body = Array(data[9...])
        let request: InternalRequest
        switch data[0] {
        case 1: request = .put(try Etcdserverpb_PutRequest(serializedBytes: body))
        case 2: request = .deleteRange(try Etcdserverpb_DeleteRangeRequest(serializedBytes: body))
        case 3: request = .txn(try Etcdserverpb_TxnRequest(serializedBytes: body))
        case 4: request = .compaction(try Etcdserverpb_CompactionRequest(serializedBytes: body))
        case 5: request = .leaseGrant(try Etcdserverpb_LeaseGrantRequest(serializedBytes: body))
        case 6: request = .leaseRevoke(try Etcdserverpb_LeaseRevokeRequest(serializedBytes: body))
        case 7: request = .leaseCheckpoint(try Etcdserverpb_LeaseCheckpointRequest(serializedBytes: body))
        case 8: request = .alarm(try Etcdserverpb_AlarmRequest(serializedBytes: body))
        case 9: request = .memberAttributes(try Etcdserverpb_Member(serializedBytes: body))
        case 10: request = .memberPeerURLs(try Etcdserverpb_Member(serializedBytes: body))
        default: throw DecodingError.unknownKind(data[0])
        }
        return (id, request)
    }

    package enum DecodingError: Error, CustomStringConvertible {
        case truncated
        case unknownKind(UInt8)

        package var description: String {
            switch self {
            case .truncated: "raft entry too short for a request"
            case .unknownKind(let kind): "raft entry of unknown request kind \(kind)"
            }
        }
    }
}
