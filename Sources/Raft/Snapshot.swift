/// Where a snapshot sits in the log and which membership was in force there.
public struct SnapshotMetadata: Sendable, Hashable {
    /// The last log index the snapshot covers.
    public var index: UInt64
    /// The term of the entry at `index`.
    public var term: UInt64
    /// The membership as of `index`.
    public var confState: ConfState

    /// Creates snapshot metadata.
    public init(index: UInt64 = 0, term: UInt64 = 0, confState: ConfState = ConfState()) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}

/// The application's state machine as of a log index, which replaces every entry up to it.
public struct Snapshot: Sendable, Hashable {
    /// The application's serialized state; opaque to Raft.
    public var data: [UInt8]
    /// Position and membership.
    public var metadata: SnapshotMetadata

    /// Creates a snapshot.
    public init(data: [UInt8] = [], metadata: SnapshotMetadata = SnapshotMetadata()) {
        self.data = data
        self.metadata = metadata
    }

    /// True for the placeholder snapshot at index 0.
    public var isEmpty: Bool { metadata.index == 0 }
}

/// What the application tells the leader after trying to deliver a snapshot.
public enum SnapshotStatus: Sendable, Hashable {
    /// The follower received it; the leader resumes probing from the snapshot's index.
    case finished
    /// Delivery failed; the leader probes again and will send a new snapshot if still needed.
    case failure
}
