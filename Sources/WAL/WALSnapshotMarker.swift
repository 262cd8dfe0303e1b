import Raft

/// A record that a snapshot was saved at `index`/`term`; recovery starts after the latest one.
public struct WALSnapshotMarker: Sendable, Hashable {
    /// The snapshot's last index.
    public var index: UInt64
    /// The term of the entry at `index`.
    public var term: UInt64
    /// The membership at `index`.
    public var confState: ConfState

    /// Creates a marker.
    public init(index: UInt64, term: UInt64, confState: ConfState = ConfState()) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}
