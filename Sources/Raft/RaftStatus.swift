/// A read-only view of a node for monitoring and for decisions the server makes around Raft (for
/// example, promoting a learner only once it has caught up).
public struct RaftStatus: Sendable, Hashable {
    /// The leader's view of one member's log.
    public struct MemberProgress: Sendable, Hashable {
        /// The highest index known to be replicated on the member.
        public var match: UInt64
        /// The next index the leader will send.
        public var next: UInt64
        /// True for learners.
        public var isLearner: Bool
        /// Whether the member was heard from in the current check-quorum period.
        public var recentActive: Bool
        /// True while the leader streams appends optimistically (as opposed to probing or sending a
        /// snapshot).
        public var isReplicating: Bool
    }

    /// This node's ID.
    public var id: UInt64
    /// Term, vote and commit index.
    public var hardState: HardState
    /// Leader and role.
    public var softState: SoftState
    /// The highest index the application has applied (as acknowledged by ``RawNode/advance(_:)``).
    public var applied: UInt64
    /// The member leadership is being transferred to, or 0.
    public var leadTransferee: UInt64
    /// The current membership.
    public var confState: ConfState
    /// Per member, on the leader only (empty elsewhere).
    public var progress: [UInt64: MemberProgress]
}

extension RawNode {
    /// The node's current status.
    public var status: RaftStatus {
        var progress: [UInt64: RaftStatus.MemberProgress] = [:]
        if raft.state == .leader {
            for (member, state) in raft.tracker.progress {
                progress[member] = RaftStatus.MemberProgress(
                    match: state.match, next: state.next, isLearner: state.isLearner,
                    recentActive: state.recentActive, isReplicating: state.state == .replicate)
            }
        }
        return RaftStatus(id: raft.id, hardState: raft.hardState, softState: raft.softState,
                          applied: raft.log.applied, leadTransferee: raft.leadTransferee,
                          confState: raft.tracker.confState, progress: progress)
    }
}
