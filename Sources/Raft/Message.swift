/// The kinds of ``Message``. Local ones never leave the node; the rest travel between peers.
public enum MessageType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Local: start an election (what an election timeout or ``RawNode/campaign()`` does).
    case hup
    /// Local: the leader's heartbeat timer fired.
    case beat
    /// A proposal, local or forwarded from a follower to the leader.
    case propose
    /// Log entries (possibly none) with the leader's commit index.
    case append
    /// A follower's answer to `append` or `snapshot`.
    case appendResponse
    /// A request for a vote in a new term.
    case vote
    /// The answer to `vote`.
    case voteResponse
    /// A pre-vote: would you vote for me if I started an election in this term?
    case preVote
    /// The answer to `preVote`.
    case preVoteResponse
    /// A snapshot for a follower whose next entry the leader has compacted.
    case snapshot
    /// The leader's liveness signal; also carries ReadIndex contexts.
    case heartbeat
    /// The answer to `heartbeat`.
    case heartbeatResponse
    /// Local: the application could not reach a peer.
    case unreachable
    /// Local: the application reports the outcome of sending a snapshot.
    case snapshotStatus
    /// Local: the leader's check-quorum timer fired.
    case checkQuorum
    /// A request to hand leadership to `from` (local, or forwarded to the leader).
    case transferLeader
    /// Leader transfer: start an election now, skipping pre-vote and leader stickiness.
    case timeoutNow
    /// A linearizable read request (local, or forwarded to the leader).
    case readIndex
    /// The leader's answer to a forwarded `readIndex`.
    case readIndexResponse

    /// True for answers to requests; ``RawNode/step(_:)`` refuses them from non-members, since they
    /// can only be stale traffic from removed nodes.
    var isResponse: Bool {
        switch self {
        case .appendResponse, .voteResponse, .preVoteResponse, .heartbeatResponse, .readIndexResponse:
            true
        default:
            false
        }
    }

    public var description: String {
        switch self {
        case .hup: "MsgHup"
        case .beat: "MsgBeat"
        case .propose: "MsgProp"
        case .append: "MsgApp"
        case .appendResponse: "MsgAppResp"
        case .vote: "MsgVote"
        case .voteResponse: "MsgVoteResp"
        case .preVote: "MsgPreVote"
        case .preVoteResponse: "MsgPreVoteResp"
        case .snapshot: "MsgSnap"
        case .heartbeat: "MsgHeartbeat"
        case .heartbeatResponse: "MsgHeartbeatResp"
        case .unreachable: "MsgUnreachable"
        case .snapshotStatus: "MsgSnapStatus"
        case .checkQuorum: "MsgCheckQuorum"
        case .transferLeader: "MsgTransferLeader"
        case .timeoutNow: "MsgTimeoutNow"
        case .readIndex: "MsgReadIndex"
        case .readIndexResponse: "MsgReadIndexResp"
        }
    }
}

/// A message between Raft nodes. One flat shape for every type, as in etcd, so that a transport
/// serializes a single structure; which fields matter depends on ``type``.
public struct Message: Sendable, Hashable {
    /// The kind of message.
    public var type: MessageType
    /// The recipient.
    public var to: UInt64
    /// The sender.
    public var from: UInt64
    /// The sender's term; 0 for local messages and forwarded proposals and reads.
    public var term: UInt64
    /// `append`: the term of the entry at `index`. Rejections: the term of the follower's hint entry.
    /// Votes: the candidate's last term.
    public var logTerm: UInt64
    /// `append`: the index just before `entries`. Responses: the acknowledged (or rejected) index.
    /// Votes: the candidate's last index. `readIndexResponse`: the read index.
    public var index: UInt64
    /// Entries to append, or the proposal's entries.
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: UInt64
    /// The snapshot carried by `snapshot`.
    public var snapshot: Snapshot?
    /// A refusal (vote, append, snapshot status).
    public var reject: Bool
    /// On an append rejection: the highest index the follower might share with the leader.
    public var rejectHint: UInt64
    /// ReadIndex request context, or the campaign-transfer marker on votes.
    public var context: [UInt8]

    /// Creates a message; unspecified fields are zero or empty.
    public init(
        type: MessageType, to: UInt64 = 0, from: UInt64 = 0, term: UInt64 = 0, logTerm: UInt64 = 0,
        index: UInt64 = 0, entries: [Entry] = [], commit: UInt64 = 0, snapshot: Snapshot? = nil,
        reject: Bool = false, rejectHint: UInt64 = 0, context: [UInt8] = []
    ) {
        self.type = type
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.snapshot = snapshot
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
    }
}

/// The context that marks a vote request caused by leader transfer; voters grant it even inside a
/// leader lease, because the current leader asked for it.
let campaignTransferContext: [UInt8] = Array("CampaignTransfer".utf8)
