/// A single membership change. Changes are applied one at a time: the leader refuses a new one until
/// the previous one has been applied, which keeps any two consecutive majorities overlapping.
public struct ConfChange: Sendable, Hashable {
    /// What to do with ``nodeID``.
    public enum ChangeType: UInt8, Sendable, Hashable {
        /// Add a voter, or promote the learner `nodeID` to voter.
        case addNode = 0
        /// Remove a voter or learner. A removed node stops campaigning; a removed leader steps down.
        case removeNode = 1
        /// Add a learner: it receives the log but does not vote or count toward commit.
        case addLearnerNode = 2
    }

    /// What to do.
    public var type: ChangeType
    /// The member it applies to.
    public var nodeID: UInt64
    /// Opaque application data (etcd puts the member's URLs here).
    public var context: [UInt8]

    /// Creates a change.
    public init(type: ChangeType, nodeID: UInt64, context: [UInt8] = []) {
        self.type = type
        self.nodeID = nodeID
        self.context = context
    }

    /// The entry payload: one type byte, the node ID as 8 little-endian bytes, then the context.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [type.rawValue]
        bytes.reserveCapacity(9 + context.count)
        withUnsafeBytes(of: nodeID.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: context)
        return bytes
    }

    /// Decodes a payload written by ``encoded()``; nil when it is not one.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 9, let type = ChangeType(rawValue: bytes[0]) else { return nil }
        var id: UInt64 = 0
        for offset in (1...8).reversed() { id = id << 8 | UInt64(bytes[offset]) }
        self.init(type: type, nodeID: id, context: Array(bytes[9...]))
    }
}
