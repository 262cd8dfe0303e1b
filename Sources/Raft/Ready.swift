/// Everything a ``RawNode`` needs the application to do, collected since the last
/// ``RawNode/advance(_:)``. See ``RawNode`` for the order in which to do it.
public struct Ready: Sendable {
    /// The new leader and role, when they changed; nothing to persist.
    public var softState: SoftState?
    /// The new term, vote and commit index, when they changed; persist before sending messages.
    public var hardState: HardState?
    /// Reads confirmed since the last Ready: serve each once ``ReadState/index`` is applied.
    public var readStates: [ReadState]
    /// Entries to append to stable storage, replacing any stored entries from the first one's index on.
    public var entries: [Entry]
    /// A snapshot from the leader to install in stable storage (and in the state machine).
    public var snapshot: Snapshot?
    /// Committed entries to apply to the state machine, in order. They were persisted before, or are
    /// in ``entries`` of this same Ready.
    public var committedEntries: [Entry]
    /// Messages to send once ``entries``, ``hardState`` and ``snapshot`` are durable.
    public var messages: [Message]

    /// Whether persisting this Ready needs an fsync: new entries, or a changed term or vote. A
    /// commit index alone may be written lazily, since it can be recomputed from a quorum.
    public var mustSync: Bool

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        softState == nil && hardState == nil && readStates.isEmpty && entries.isEmpty && snapshot == nil
            && committedEntries.isEmpty && messages.isEmpty
    }
}
