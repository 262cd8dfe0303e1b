/// The parameters of one Raft node.
public struct RaftConfiguration: Sendable, Hashable {
    /// This node's ID; must not be 0 (0 means "none" throughout).
    public var id: UInt64
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout is drawn
    /// uniformly from `electionTick ..< 2 * electionTick` after every reset so that candidates rarely
    /// collide.
    public var electionTick: Int
    /// Ticks between a leader's heartbeats; must be less than `electionTick`.
    public var heartbeatTick: Int
    /// The index the application has already applied (after a restart); Raft will not hand out
    /// entries up to it again.
    public var applied: UInt64
    /// The most bytes of entries in one append message: the batching limit.
    public var maxSizePerMessage: UInt64
    /// The most bytes of committed entries in one ``Ready``.
    public var maxCommittedSizePerReady: UInt64
    /// The most payload bytes a leader accepts that are not yet committed; 0 for no limit. Protects the
    /// leader's memory when followers are slow.
    public var maxUncommittedEntriesSize: UInt64
    /// The most append messages in flight to one follower in replicate state.
    public var maxInflightMessages: Int
    /// The most bytes in flight to one follower; 0 for no limit.
    public var maxInflightBytes: UInt64
    /// A leader steps down when it has not heard from a quorum within an election timeout, and a
    /// follower that heard from its leader within the timeout ignores vote requests (leader
    /// stickiness).
    public var checkQuorum: Bool
    /// Candidates first run a pre-vote round, so that a partitioned node rejoining cannot disturb the
    /// cluster by bumping terms.
    public var preVote: Bool
    /// How ReadIndex requests are confirmed.
    public var readOnlyOption: ReadOnlyOption
    /// When true, a follower rejects proposals instead of forwarding them to the leader.
    public var disableProposalForwarding: Bool

    /// Creates a configuration with etcd's defaults: 10 election ticks, 1 heartbeat tick, 1 MiB
    /// messages, a 256-message window, check-quorum and pre-vote on.
    public init(
        id: UInt64, electionTick: Int = 10, heartbeatTick: Int = 1, applied: UInt64 = 0,
        maxSizePerMessage: UInt64 = 1 << 20, maxCommittedSizePerReady: UInt64 = 1 << 26,
        maxUncommittedEntriesSize: UInt64 = 0, maxInflightMessages: Int = 256, maxInflightBytes: UInt64 = 0,
        checkQuorum: Bool = true, preVote: Bool = true, readOnlyOption: ReadOnlyOption = .safe,
        disableProposalForwarding: Bool = false
    ) {
        self.id = id
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.applied = applied
        self.maxSizePerMessage = maxSizePerMessage
        self.maxCommittedSizePerReady = maxCommittedSizePerReady
        self.maxUncommittedEntriesSize = maxUncommittedEntriesSize
        self.maxInflightMessages = maxInflightMessages
        self.maxInflightBytes = maxInflightBytes
        self.checkQuorum = checkQuorum
        self.preVote = preVote
        self.readOnlyOption = readOnlyOption
        self.disableProposalForwarding = disableProposalForwarding
    }

    func validate() {
        precondition(id != 0, "cannot use none as id")
        precondition(heartbeatTick > 0, "heartbeat tick must be greater than 0")
        precondition(electionTick > heartbeatTick, "election tick must be greater than heartbeat tick")
        precondition(maxInflightMessages > 0, "max inflight messages must be greater than 0")
        precondition(readOnlyOption != .leaseBased || checkQuorum,
                     "lease-based reads are only safe with check-quorum")
    }
}
