/// The leader's bookkeeping for the whole membership: a ``Progress`` per member, the voters' majority
/// configuration, the learners, and the votes of the current election.
struct ProgressTracker {
    private(set) var voters = MajorityConfig()
    /// Learners, sorted for deterministic iteration.
    private(set) var learners: [UInt64] = []
    private(set) var progress: [UInt64: Progress] = [:]
    /// Every member, voters and learners, sorted: the order in which messages go out.
    private(set) var memberIDs: [UInt64] = []
    private(set) var votes: [UInt64: Bool] = [:]
    let maxInflight: Int
    let maxInflightBytes: UInt64

    init(maxInflight: Int, maxInflightBytes: UInt64) {
        self.maxInflight = maxInflight
        self.maxInflightBytes = maxInflightBytes
    }

    var confState: ConfState { ConfState(voters: voters.ids, learners: learners) }

    /// True when `id` is the only voter, which lets a single-node cluster commit and read alone.
    func isSingleton(_ id: UInt64) -> Bool { voters.count == 1 && voters.contains(id) }

    func newInflights() -> Inflights { Inflights(capacity: maxInflight, maxBytes: maxInflightBytes) }

    /// Adds a voter, or promotes a learner.
    mutating func addVoter(_ id: UInt64, next: UInt64) {
        if let existing = progress[id] {
            guard existing.isLearner else { return }
            existing.isLearner = false
            learners.removeAll { $0 == id }
        } else {
            insertProgress(id, next: next, isLearner: false)
        }
        voters.insert(id)
    }

    /// Adds a learner. Demoting a voter is not supported with one-at-a-time changes (it would need
    /// joint consensus to be safe in every interleaving), so it is ignored.
    mutating func addLearner(_ id: UInt64, next: UInt64) {
        guard progress[id] == nil else { return }
        insertProgress(id, next: next, isLearner: true)
        learners.append(id)
        learners.sort()
    }

    mutating func remove(_ id: UInt64) {
        progress[id] = nil
        voters.remove(id)
        learners.removeAll { $0 == id }
        memberIDs.removeAll { $0 == id }
        votes[id] = nil
    }

    private mutating func insertProgress(_ id: UInt64, next: UInt64, isLearner: Bool) {
        // A new member counts as active so that check-quorum does not depose the leader before the
        // member had a chance to answer.
        let added = Progress(next: next, inflights: newInflights(), isLearner: isLearner)
        added.recentActive = true
        progress[id] = added
        memberIDs.append(id)
        memberIDs.sort()
    }

    /// Replaces the membership, e.g. from a snapshot.
    mutating func reset(to confState: ConfState, next: UInt64) {
        voters = MajorityConfig()
        learners = []
        progress = [:]
        memberIDs = []
        votes = [:]
        for id in confState.voters { addVoter(id, next: next) }
        for id in confState.learners where progress[id] == nil { addLearner(id, next: next) }
    }

    /// The largest index replicated on a majority of voters.
    func committed() -> UInt64 {
        voters.committedIndex { progress[$0]?.match }
    }

    /// Whether a majority of voters was heard from since the last check (the leader counts as heard).
    func quorumActive(selfID: UInt64) -> Bool {
        var active: [UInt64: Bool] = [:]
        for id in voters.ids {
            active[id] = id == selfID || (progress[id]?.recentActive ?? false)
        }
        return voters.voteResult(active) == .won
    }

    mutating func resetVotes() { votes = [:] }

    /// Records the first vote of `id` in this election; later duplicates are ignored.
    mutating func recordVote(_ id: UInt64, granted: Bool) {
        if votes[id] == nil { votes[id] = granted }
    }

    func tallyVotes() -> (granted: Int, rejected: Int, result: VoteResult) {
        var granted = 0
        var rejected = 0
        for id in voters.ids {
            switch votes[id] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        return (granted, rejected, voters.voteResult(votes))
    }
}
