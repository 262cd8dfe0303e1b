/// The state that must be on stable storage before any message of the same ``Ready`` is sent:
/// the term, whom this node voted for in it, and the commit index.
public struct HardState: Sendable, Hashable {
    /// The latest term this node has seen.
    public var term: UInt64
    /// The candidate this node voted for in `term`, or 0.
    public var vote: UInt64
    /// The highest index known to be committed.
    public var commit: UInt64

    /// Creates a hard state.
    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    /// True for the state of a node that has never seen a term.
    public var isEmpty: Bool { self == HardState() }
}
