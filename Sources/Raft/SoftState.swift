/// The role a node plays in its current term.
public enum StateType: Sendable, Hashable, CustomStringConvertible {
    /// Accepts entries from a leader and votes.
    case follower
    /// Runs a pre-vote round: asks whether it could win before disturbing anyone's term.
    case preCandidate
    /// Asks for votes in a new term.
    case candidate
    /// Replicates its log to the others.
    case leader

    public var description: String {
        switch self {
        case .follower: "StateFollower"
        case .preCandidate: "StatePreCandidate"
        case .candidate: "StateCandidate"
        case .leader: "StateLeader"
        }
    }
}

/// Volatile state that the application may want to observe (for logging or routing) but need not
/// persist.
public struct SoftState: Sendable, Hashable {
    /// The leader this node currently follows, or 0 when it knows none.
    public var lead: UInt64
    /// This node's role.
    public var raftState: StateType

    /// Creates a soft state.
    public init(lead: UInt64, raftState: StateType) {
        self.lead = lead
        self.raftState = raftState
    }
}
