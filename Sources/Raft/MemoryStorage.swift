/// A ``Storage`` held in memory: what tests and the simulator use, and what a server can use in front
/// of its write-ahead log (the WAL is the durable copy; this one serves reads).
///
/// Not thread-safe: like ``RawNode``, it belongs to one task.
///
/// - Complexity: term and index lookups are O(1); ``append(_:)`` is O(entries appended or replaced);
///   ``compact(through:)`` is O(entries kept).
public final class MemoryStorage: Storage {
    private var hardState = HardState()
    private var currentSnapshot = Snapshot()
    /// `entries[0]` is a placeholder whose index and term are those of the last compacted entry, so
    /// that `term(at: firstIndex() - 1)` is always answerable.
    private var entries = [Entry()]

    /// Creates an empty storage whose membership is `confState`, which is how a new cluster is
    /// bootstrapped: every member starts from the same initial configuration.
    public init(confState: ConfState = ConfState()) {
        currentSnapshot.metadata.confState = confState
    }

    public func initialState() throws -> (hardState: HardState, confState: ConfState) {
        (hardState, currentSnapshot.metadata.confState)
    }

    public func entries(from low: UInt64, to high: UInt64, maxSize: UInt64) throws -> [Entry] {
        let offset = entries[0].index
        if low <= offset { throw RaftError.compacted }
        if high > lastIndexValue + 1 { throw RaftError.unavailable }
        if low >= high { return [] }
        return Array(entries[Int(low - offset)..<Int(high - offset)]).limited(to: maxSize)
    }

    public func term(at index: UInt64) throws -> UInt64 {
        let offset = entries[0].index
        if index < offset { throw RaftError.compacted }
        if index - offset >= UInt64(entries.count) { throw RaftError.unavailable }
        return entries[Int(index - offset)].term
    }

    public func firstIndex() throws -> UInt64 { entries[0].index + 1 }

    public func lastIndex() throws -> UInt64 { lastIndexValue }

    public func snapshot() throws -> Snapshot { currentSnapshot }

    private var lastIndexValue: UInt64 { entries[0].index + UInt64(entries.count) - 1 }

    /// Persists a hard state from a ``Ready``.
    public func setHardState(_ state: HardState) {
        hardState = state
    }

    /// Replaces the whole log with a snapshot received from the leader. Throws
    /// ``RaftError/snapshotOutOfDate`` when it is older than the current one.
    public func applySnapshot(_ snapshot: Snapshot) throws {
        if snapshot.metadata.index < currentSnapshot.metadata.index { throw RaftError.snapshotOutOfDate }
        currentSnapshot = snapshot
        entries = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    /// Records a snapshot of the application's state as of `index` (which must be applied and not
    /// beyond the last entry), so the leader can send it to followers that fall behind compaction.
    @discardableResult
    public func createSnapshot(index: UInt64, confState: ConfState?, data: [UInt8]) throws -> Snapshot {
        if index <= currentSnapshot.metadata.index { throw RaftError.snapshotOutOfDate }
        precondition(index <= lastIndexValue, "snapshot \(index) is out of bound lastindex(\(lastIndexValue))")
        currentSnapshot.metadata.index = index
        currentSnapshot.metadata.term = entries[Int(index - entries[0].index)].term
        if let confState { currentSnapshot.metadata.confState = confState }
        currentSnapshot.data = data
        return currentSnapshot
    }

    /// Discards entries before `compactIndex`; the entry at `compactIndex` becomes the placeholder.
    /// The application must only compact what it has applied (usually what a snapshot covers).
    public func compact(through compactIndex: UInt64) throws {
        let offset = entries[0].index
        if compactIndex <= offset { throw RaftError.compacted }
        precondition(compactIndex <= lastIndexValue, "compact \(compactIndex) is out of bound lastindex(\(lastIndexValue))")
        let cut = Int(compactIndex - offset)
        var kept = [Entry(term: entries[cut].term, index: entries[cut].index)]
        kept.append(contentsOf: entries[(cut + 1)...])
        entries = kept
    }

    /// Persists entries from a ``Ready``. Entries that overlap the existing log replace it from the
    /// first overlapping index on: a new leader may overwrite an uncommitted suffix.
    public func append(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        let compactedThrough = entries[0].index
        let last = newEntries[newEntries.count - 1].index
        if last <= compactedThrough { return }
        // Skip the part that is already compacted away.
        let usable = first.index <= compactedThrough
            ? Array(newEntries[Int(compactedThrough + 1 - first.index)...]) : newEntries
        let start = usable[0].index
        precondition(start <= lastIndexValue + 1, "missing log entry [last: \(lastIndexValue), append at: \(start)]")
        entries.removeSubrange(Int(start - compactedThrough)...)
        entries.append(contentsOf: usable)
    }
}
