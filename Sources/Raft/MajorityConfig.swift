/// The outcome of counting votes.
enum VoteResult: Sendable, Hashable {
    /// Not decided yet: missing votes could still swing it.
    case pending
    /// The votes against make a majority impossible.
    case lost
    /// A majority voted yes.
    case won
}

/// A set of voters decided by simple majority.
struct MajorityConfig: Sendable, Hashable {
    /// The voters, kept sorted so that every walk over them is deterministic (dictionary and set order
    /// in Swift is randomized per process, which would break seeded replays).
    private(set) var ids: [UInt64] = []

    init(_ ids: some Sequence<UInt64> = []) {
        self.ids = Array(Set(ids)).sorted()
    }

    var count: Int { ids.count }
    func contains(_ id: UInt64) -> Bool { ids.contains(id) }

    mutating func insert(_ id: UInt64) {
        guard !contains(id) else { return }
        ids.append(id)
        ids.sort()
    }

    mutating func remove(_ id: UInt64) {
        ids.removeAll { $0 == id }
    }

    /// The largest index acknowledged by a majority, given each voter's acknowledged index
    /// (`matchIndex` returns nil for a voter without progress, which counts as 0). An empty
    /// configuration returns `.max` so that it never holds back a joint decision.
    func committedIndex(_ matchIndex: (UInt64) -> UInt64?) -> UInt64 {
        if ids.isEmpty { return .max }
        var matched = ids.map { matchIndex($0) ?? 0 }
        matched.sort()
        // With n voters sorted ascending, the entry at n - quorum is held by at least a quorum.
        return matched[matched.count - (matched.count / 2 + 1)]
    }

    /// Tallies `votes` (true = granted); voters missing from it have not answered. An empty
    /// configuration wins, by the same convention as ``committedIndex(_:)``.
    func voteResult(_ votes: [UInt64: Bool]) -> VoteResult {
        if ids.isEmpty { return .won }
        var granted = 0
        var missing = 0
        for id in ids {
            switch votes[id] {
            case true?: granted += 1
            case false?: break
            case nil: missing += 1
            }
        }
        let quorum = ids.count / 2 + 1
        if granted >= quorum { return .won }
        if granted + missing >= quorum { return .pending }
        return .lost
    }
}
