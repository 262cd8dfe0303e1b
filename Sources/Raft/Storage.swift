/// The stable part of the log, as the application has persisted it.
///
/// Raft reads through this protocol and never writes: the application appends the entries, hard state
/// and snapshots it receives in a ``Ready`` and then calls ``RawNode/advance(_:)``. It is a class-bound
/// protocol because Raft and the application must see the same instance; a value-type storage would
/// silently fork into two copies.
///
/// Index conventions: entries cover `firstIndex()...lastIndex()`; the entry just before
/// `firstIndex()` is represented only by its term (the last compacted entry or the snapshot), so
/// `term(at: firstIndex() - 1)` must succeed.
public protocol Storage: AnyObject {
    /// The persisted hard state and the membership (from the latest snapshot and applied conf
    /// changes), read once when a ``RawNode`` starts.
    func initialState() throws -> (hardState: HardState, confState: ConfState)
    /// Entries in `low..<high`, stopping early when their total ``Entry/byteSize`` would exceed
    /// `maxSize` but returning at least one entry. Throws ``RaftError/compacted`` or
    /// ``RaftError/unavailable``.
    func entries(from low: UInt64, to high: UInt64, maxSize: UInt64) throws -> [Entry]
    /// The term of the entry at `index`, for `firstIndex() - 1 ... lastIndex()`.
    func term(at index: UInt64) throws -> UInt64
    /// The index of the first entry still available (one after the last compacted entry).
    func firstIndex() throws -> UInt64
    /// The index of the last entry.
    func lastIndex() throws -> UInt64
    /// The most recent snapshot; ``RaftError/snapshotTemporarilyUnavailable`` tells the leader to
    /// retry later.
    func snapshot() throws -> Snapshot
}
