/// Errors the Raft core reports to the application. An enum because callers switch over them; every
/// case carries enough to write a useful log line.
public enum RaftError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Storage: the requested index is older than the first available entry (compacted away).
    case compacted
    /// Storage: the requested index is past the last entry.
    case unavailable
    /// Storage: the snapshot to apply is older than the one already held.
    case snapshotOutOfDate
    /// Storage: no snapshot can be produced right now; the leader retries later.
    case snapshotTemporarilyUnavailable
    /// A proposal (or read, or transfer request) was not accepted; the reason says why.
    case proposalDropped(ProposalDropReason)
    /// The application stepped a local-only message type with ``RawNode/step(_:)``.
    case stepLocalMessage(MessageType)
    /// A response came from a node that is not a member.
    case stepPeerNotFound(UInt64)

    public var description: String {
        switch self {
        case .compacted: "requested index is unavailable due to compaction"
        case .unavailable: "requested entry at index is unavailable"
        case .snapshotOutOfDate: "requested index is older than the existing snapshot"
        case .snapshotTemporarilyUnavailable: "snapshot is temporarily unavailable"
        case .proposalDropped(let reason): "raft proposal dropped: \(reason)"
        case .stepLocalMessage(let type): "raft: cannot step raft local message \(type)"
        case .stepPeerNotFound(let id): "raft: cannot step as peer \(id) not found"
        }
    }
}

/// Why a proposal was dropped.
public enum ProposalDropReason: Sendable, Hashable, CustomStringConvertible {
    /// No leader is known; retry after an election.
    case noLeader
    /// The leader is handing leadership to another node; retry on the new leader.
    case leaderTransferInProgress
    /// This node was removed from the cluster.
    case notAMember
    /// Too many uncommitted bytes are in flight; retry when some have committed.
    case uncommittedSizeExceeded
    /// Forwarding proposals to the leader is disabled in the configuration.
    case forwardingDisabled

    public var description: String {
        switch self {
        case .noLeader: "no leader"
        case .leaderTransferInProgress: "leader transfer in progress"
        case .notAMember: "node is not a member of the cluster"
        case .uncommittedSizeExceeded: "too many uncommitted entries"
        case .forwardingDisabled: "proposal forwarding is disabled"
        }
    }
}
