/// Entries and a snapshot that Raft has accepted but the application has not yet persisted.
///
/// Invariant: `entries[i].index == offset + i`, and when a snapshot is pending, `offset` is the
/// snapshot's index + 1. Everything here is handed out through ``Ready`` and moves to ``Storage`` on
/// ``RawNode/advance(_:)``.
struct UnstableLog {
    /// A snapshot received from the leader and not yet persisted.
    var snapshot: Snapshot?
    /// Entries not yet persisted, starting at `offset`.
    var entries: [Entry] = []
    /// The index of `entries[0]` (or where the next entry would go).
    var offset: UInt64

    init(offset: UInt64) {
        self.offset = offset
    }

    /// The first index of the log if only the unstable snapshot can tell it.
    var firstIndexIfKnown: UInt64? {
        snapshot.map { $0.metadata.index + 1 }
    }

    /// The last index of the log if the unstable part can tell it.
    var lastIndexIfKnown: UInt64? {
        if !entries.isEmpty { return offset + UInt64(entries.count) - 1 }
        return snapshot?.metadata.index
    }

    /// The term at `index` if the unstable part holds it.
    func term(at index: UInt64) -> UInt64? {
        if index < offset {
            if let snapshot, snapshot.metadata.index == index { return snapshot.metadata.term }
            return nil
        }
        guard let last = lastIndexIfKnown, index <= last else { return nil }
        return entries[Int(index - offset)].term
    }

    /// The entries up to `index` (with `term`) are now persisted: forget them. A mismatching term means
    /// a newer leader replaced them meanwhile, so they are kept for the next Ready.
    mutating func stableTo(index: UInt64, term: UInt64) {
        guard let actual = self.term(at: index), actual == term, index >= offset else { return }
        entries.removeFirst(Int(index + 1 - offset))
        offset = index + 1
    }

    /// The snapshot at `index` is now persisted.
    mutating func stableSnapshotTo(index: UInt64) {
        if snapshot?.metadata.index == index { snapshot = nil }
    }

    /// Replaces everything with `snapshot`.
    mutating func restore(_ snapshot: Snapshot) {
        offset = snapshot.metadata.index + 1
        entries = []
        self.snapshot = snapshot
    }

    /// Appends entries, replacing any existing entries from the first new index on.
    mutating func truncateAndAppend(_ newEntries: [Entry]) {
        guard let first = newEntries.first?.index else { return }
        if first == offset + UInt64(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if first <= offset {
            // Replaces all unstable entries (and possibly stable ones: the log rebases on `first`).
            offset = first
            entries = newEntries
        } else {
            entries.removeSubrange(Int(first - offset)...)
            entries.append(contentsOf: newEntries)
        }
    }

    /// Entries in `low..<high`, which the caller has checked lie within the unstable part.
    func slice(from low: UInt64, to high: UInt64) -> ArraySlice<Entry> {
        precondition(low >= offset && high <= offset + UInt64(entries.count) && low <= high,
                     "unstable.slice[\(low),\(high)) out of bound [\(offset),\(offset + UInt64(entries.count))]")
        return entries[Int(low - offset)..<Int(high - offset)]
    }
}
