/// The whole log as Raft sees it: the persisted prefix in ``Storage`` followed by the unstable
/// suffix, with the commit and apply cursors.
///
/// Invariant: `applied <= committed <= lastIndex`. Committed entries are never overwritten: an attempt
/// to do so stops the process, because it would mean two different entries were committed at one
/// index.
struct RaftLog {
    let storage: any Storage
    var unstable: UnstableLog
    /// The highest index known to be stored on a quorum.
    private(set) var committed: UInt64
    /// The highest index the application has applied.
    private(set) var applied: UInt64
    /// The byte limit of committed entries handed out in one Ready.
    let maxCommittedSizePerReady: UInt64

    init(storage: any Storage, maxCommittedSizePerReady: UInt64) {
        self.storage = storage
        self.maxCommittedSizePerReady = maxCommittedSizePerReady
        let first = (try? storage.firstIndex()) ?? 1
        let last = (try? storage.lastIndex()) ?? 0
        unstable = UnstableLog(offset: last + 1)
        // The snapshot (or compaction point) is applied by definition.
        committed = first - 1
        applied = first - 1
    }

    var firstIndex: UInt64 {
        if let index = unstable.firstIndexIfKnown { return index }
        return (try? storage.firstIndex()) ?? 1
    }

    var lastIndex: UInt64 {
        if let index = unstable.lastIndexIfKnown { return index }
        return (try? storage.lastIndex()) ?? 0
    }

    /// The last index known to be in stable storage: everything before the unstable entries, or
    /// nothing while an unpersisted snapshot replaces the log (conservative, and only a follower ever
    /// holds one).
    var stableLastIndex: UInt64 {
        unstable.snapshot == nil ? unstable.offset - 1 : 0
    }

    var lastTerm: UInt64 {
        guard let term = try? term(at: lastIndex) else {
            preconditionFailure("unexpected error when getting the last term")
        }
        return term
    }

    /// The term of the entry at `index`: 0 past the end, ``RaftError/compacted`` before the start.
    func term(at index: UInt64) throws -> UInt64 {
        // The entry just before firstIndex is known by its term only (snapshot or compaction point).
        if index < firstIndex - 1 { throw RaftError.compacted }
        if index > lastIndex { return 0 }
        if let term = unstable.term(at: index) { return term }
        do {
            return try storage.term(at: index)
        } catch RaftError.compacted {
            throw RaftError.compacted
        } catch RaftError.unavailable {
            return 0
        }
    }

    func matchTerm(index: UInt64, term: UInt64) -> Bool {
        guard let actual = try? self.term(at: index) else { return false }
        return actual == term
    }

    /// Whether a candidate whose log ends at (`lastIndex`, `term`) is at least as up to date as this
    /// log (Raft §5.4.1).
    func isUpToDate(lastIndex candidateIndex: UInt64, term candidateTerm: UInt64) -> Bool {
        let ourTerm = lastTerm
        return candidateTerm > ourTerm || (candidateTerm == ourTerm && candidateIndex >= lastIndex)
    }

    /// Appends entries from a leader after checking that our entry at `index` has `logTerm`; returns the
    /// last index of the new entries, or nil when the check fails.
    mutating func maybeAppend(index: UInt64, logTerm: UInt64, committed leaderCommit: UInt64, entries: [Entry]) -> UInt64? {
        guard matchTerm(index: index, term: logTerm) else { return nil }
        let lastNewIndex = index + UInt64(entries.count)
        let conflict = findConflict(entries)
        if conflict != 0 {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed entry [committed(\(committed))]")
            append(Array(entries[Int(conflict - (index + 1))...]))
        }
        // Only what we know matches the leader may be committed: never past lastNewIndex.
        commit(to: min(leaderCommit, lastNewIndex))
        return lastNewIndex
    }

    /// Appends entries at the end (or over an uncommitted suffix); returns the new last index.
    @discardableResult
    mutating func append(_ entries: [Entry]) -> UInt64 {
        guard let first = entries.first else { return lastIndex }
        precondition(first.index > committed, "after(\(first.index - 1)) is out of range [committed(\(committed))]")
        unstable.truncateAndAppend(entries)
        return lastIndex
    }

    /// The index of the first entry that is new or whose term differs from ours; 0 when every entry is
    /// already present.
    func findConflict(_ entries: [Entry]) -> UInt64 {
        for entry in entries where !matchTerm(index: entry.index, term: entry.term) {
            return entry.index
        }
        return 0
    }

    /// The largest index at or below `index` whose term is at most `term`: the best guess of the last
    /// entry two logs share, used for fast back-tracking after a rejected append.
    func findConflictByTerm(index: UInt64, term: UInt64) -> UInt64 {
        var candidate = min(index, lastIndex)
        while candidate > 0 {
            guard let ourTerm = try? self.term(at: candidate) else { break }
            if ourTerm <= term { break }
            candidate -= 1
        }
        return candidate
    }

    var unstableEntries: [Entry] { unstable.entries }

    /// Committed entries the application has not applied yet, limited in size.
    func nextCommittedEntries() -> [Entry] {
        let low = max(applied + 1, firstIndex)
        guard committed + 1 > low else { return [] }
        do {
            return try slice(from: low, to: committed + 1, maxSize: maxCommittedSizePerReady)
        } catch {
            preconditionFailure("unexpected error when getting unapplied entries: \(error)")
        }
    }

    var hasNextCommittedEntries: Bool {
        committed + 1 > max(applied + 1, firstIndex)
    }

    /// The snapshot to send a follower, or the pending unstable one.
    func snapshot() throws -> Snapshot {
        if let snapshot = unstable.snapshot { return snapshot }
        return try storage.snapshot()
    }

    mutating func commit(to index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "tocommit(\(index)) is out of range [lastIndex(\(lastIndex))]. Was the raft log corrupted, truncated, or lost?")
        committed = index
    }

    mutating func applied(to index: UInt64) {
        guard index != 0 else { return }
        precondition(committed >= index && index >= applied, "applied(\(index)) is out of range [prevApplied(\(applied)), committed(\(committed))]")
        applied = index
    }

    mutating func stableTo(index: UInt64, term: UInt64) { unstable.stableTo(index: index, term: term) }

    mutating func stableSnapshotTo(index: UInt64) { unstable.stableSnapshotTo(index: index) }

    /// Commits `maxIndex` if its entry is from `term`: a leader only counts replicas of entries from
    /// its own term (Raft §5.4.2, the figure 8 rule); earlier entries commit with them.
    mutating func maybeCommit(maxIndex: UInt64, term: UInt64) -> Bool {
        guard maxIndex > committed, (try? self.term(at: maxIndex)) == term else { return false }
        commit(to: maxIndex)
        return true
    }

    /// Replaces the log with a snapshot.
    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstable.restore(snapshot)
    }

    /// Entries from `index` to the end, limited in size.
    func entries(from index: UInt64, maxSize: UInt64) throws -> [Entry] {
        if index > lastIndex { return [] }
        return try slice(from: index, to: lastIndex + 1, maxSize: maxSize)
    }

    /// Entries in `low..<high` from storage and the unstable part.
    func slice(from low: UInt64, to high: UInt64, maxSize: UInt64) throws -> [Entry] {
        if low == high { return [] }
        let first = firstIndex
        if low < first { throw RaftError.compacted }
        precondition(low <= high && high <= lastIndex + 1, "slice[\(low),\(high)) out of bound [\(first),\(lastIndex)]")
        var result: [Entry] = []
        if low < unstable.offset {
            let stored = try storage.entries(from: low, to: min(high, unstable.offset), maxSize: maxSize)
            // Storage stopped early because of the size limit: don't add unstable entries.
            if UInt64(stored.count) < min(high, unstable.offset) - low { return stored }
            result = stored
        }
        if high > unstable.offset {
            result.append(contentsOf: unstable.slice(from: max(low, unstable.offset), to: high))
        }
        return result.limited(to: maxSize)
    }
}
