/// A Raft node driven by its owner: the one public entry point of the Raft core.
///
/// `RawNode` is a pure state machine. It does no I/O, reads no clock, starts no thread and draws
/// randomness only from the generator given at creation, so a seeded simulation replays exactly. It is
/// not `Sendable`: one task (the server's Raft driver) owns it and calls every method.
///
/// ## Inputs
/// - ``tick()`` advances logical time; call it at a fixed interval (etcd: every 100 ms). Election and
///   heartbeat timeouts are counted in ticks.
/// - ``step(_:)`` delivers a message received from a peer.
/// - ``propose(_:)``, ``proposeConfChange(_:)``, ``readIndex(context:)``,
///   ``transferLeadership(to:)`` and ``campaign()`` are the application's requests.
///
/// ## The Ready contract
/// (The article <doc:TheReadyContract> walks through a driver loop.)
/// When ``hasReady`` is true, take a ``Ready`` with ``ready()`` and handle it in this order:
/// 1. **Persist** ``Ready/hardState``, ``Ready/entries`` and ``Ready/snapshot`` to stable storage
///    (the write-ahead log and the ``Storage`` instance this node reads from). When
///    ``Ready/mustSync`` is true this must be durable (fsync) before step 2. Entries replace any stored
///    entries from their first index on.
/// 2. **Send** ``Ready/messages``. Their content assumes step 1 is durable: a vote or an append
///    acknowledgement promises the state is on disk. The one exception: a leader may send its
///    ``MessageType/append``, ``MessageType/heartbeat`` and ``MessageType/snapshot`` messages in
///    parallel with its own write, because it counts its own copy of entries toward a quorum only after
///    ``advance(_:)`` reports them persisted, so no commit rests on a copy a crash could lose. If a
///    snapshot message fails, call ``reportSnapshot(to:status:)``; if a peer is unreachable,
///    ``reportUnreachable(_:)``.
/// 3. **Apply** ``Ready/committedEntries`` in order. For an ``EntryType/confChange`` entry, decode it
///    with ``ConfChange/init(decoding:)`` and call ``applyConfChange(_:)`` before moving on. Serve each
///    of ``Ready/readStates`` once the applied index reaches its index.
/// 4. Call ``advance(_:)`` with the same Ready. Until then, ``ready()`` must not be called again.
///
/// A crash at any point loses only what was not yet persisted in step 1, which Raft tolerates: the
/// messages that would have promised it were never sent.
///
/// ## Proposals on followers
/// A follower forwards proposals, reads and transfer requests to the leader it knows (unless
/// ``RaftConfiguration/disableProposalForwarding`` is set, then they fail with
/// ``ProposalDropReason/forwardingDisabled``). Forwarding is best effort: the proposal may be lost with
/// the message, so the application detects success by seeing its entry applied and retries after a
/// timeout, as etcd's server does. Without a known leader, or while the leader transfers leadership,
/// proposals fail at once with ``RaftError/proposalDropped(_:)``.
///
/// - Complexity: ``step(_:)``, ``propose(_:)`` and ``tick()`` cost O(1) plus the entries they carry
///   and the messages they produce (per member); ``ready()`` costs O(size of the Ready).
public final class RawNode {
    let raft: RaftNode
    private var previousSoftState: SoftState
    private var previousHardState: HardState

    /// Creates a node from what `storage` holds (a fresh node starts from the membership its storage
    /// was bootstrapped with). `randomNumberGenerator` supplies election-timeout jitter.
    public init(configuration: RaftConfiguration, storage: any Storage,
                randomNumberGenerator: any RandomNumberGenerator) {
        raft = RaftNode(configuration: configuration, storage: storage, randomNumberGenerator: randomNumberGenerator)
        previousSoftState = raft.softState
        previousHardState = raft.hardState
    }

    /// Creates a node whose timeout jitter comes from a generator seeded with `randomSeed`.
    public convenience init(configuration: RaftConfiguration, storage: any Storage, randomSeed: UInt64) {
        self.init(configuration: configuration, storage: storage,
                  randomNumberGenerator: SeededRandomNumberGenerator(seed: randomSeed))
    }

    /// This node's ID.
    public var id: UInt64 { raft.id }

    /// Advances logical time by one tick.
    public func tick() {
        raft.tick()
    }

    /// Starts an election now (with pre-vote, if configured).
    public func campaign() throws {
        try raft.step(Message(type: .hup, from: raft.id))
    }

    /// Proposes `data` for the log. Success means accepted for replication, not committed: watch for
    /// the entry among committed entries.
    public func propose(_ data: [UInt8]) throws {
        try raft.step(Message(type: .propose, from: raft.id, entries: [Entry(data: data)]))
    }

    /// Proposes a membership change. The leader accepts one change at a time; a change proposed while
    /// another is unapplied becomes an empty entry and never takes effect.
    public func proposeConfChange(_ change: ConfChange) throws {
        try raft.step(Message(type: .propose, from: raft.id,
                              entries: [Entry(type: .confChange, data: change.encoded())]))
    }

    /// Applies a committed conf change (see the Ready contract) and returns the new membership, which
    /// the application stores with its next snapshot.
    @discardableResult
    public func applyConfChange(_ change: ConfChange) -> ConfState {
        raft.applyConfChange(change)
    }

    /// Delivers a message from a peer. Local-only message types are refused, and so are responses
    /// from non-members (stale traffic from removed nodes).
    public func step(_ message: Message) throws {
        switch message.type {
        case .hup, .beat, .unreachable, .snapshotStatus, .checkQuorum:
            throw RaftError.stepLocalMessage(message.type)
        default:
            break
        }
        if message.type.isResponse && raft.tracker.progress[message.from] == nil {
            throw RaftError.stepPeerNotFound(message.from)
        }
        try raft.step(message)
    }

    /// Requests a linearizable read. When confirmed, a ``ReadState`` with the same context appears in a
    /// Ready; many client reads can share one context (batching).
    public func readIndex(context: [UInt8]) throws {
        try raft.step(Message(type: .readIndex, context: context))
    }

    /// Asks the leader to hand leadership to `transferee`, which it does once the transferee's log is
    /// current. Proposals fail during the transfer; it is abandoned after an election timeout.
    public func transferLeadership(to transferee: UInt64) throws {
        try raft.step(Message(type: .transferLeader, from: transferee))
    }

    /// Tells the leader that `peer` could not be reached, so it stops streaming to it.
    public func reportUnreachable(_ peer: UInt64) {
        try? raft.step(Message(type: .unreachable, from: peer))
    }

    /// Tells the leader how sending a snapshot to `peer` ended.
    public func reportSnapshot(to peer: UInt64, status: SnapshotStatus) {
        try? raft.step(Message(type: .snapshotStatus, from: peer, reject: status == .failure))
    }

    /// The current term, vote and commit index.
    public var hardState: HardState { raft.hardState }

    /// The current leader and role.
    public var softState: SoftState { raft.softState }

    /// Whether ``ready()`` has anything to hand out.
    public var hasReady: Bool {
        if raft.softState != previousSoftState { return true }
        let hardState = raft.hardState
        if !hardState.isEmpty && hardState != previousHardState { return true }
        return raft.log.unstable.snapshot != nil || !raft.log.unstable.entries.isEmpty
            || !raft.messages.isEmpty || !raft.readStates.isEmpty || raft.log.hasNextCommittedEntries
            || raft.hasPendingAppends
    }

    /// Collects what the application must persist, send and apply. Handle it as the Ready contract
    /// says, then call ``advance(_:)``.
    public func ready() -> Ready {
        raft.flushPendingAppends()
        let softState = raft.softState
        let hardState = raft.hardState
        let entries = raft.log.unstableEntries
        let changedHardState = hardState != previousHardState && !hardState.isEmpty ? hardState : nil
        let ready = Ready(
            softState: softState != previousSoftState ? softState : nil,
            hardState: changedHardState,
            readStates: raft.readStates,
            entries: entries,
            snapshot: raft.log.unstable.snapshot,
            committedEntries: raft.log.nextCommittedEntries(),
            messages: raft.messages,
            mustSync: !entries.isEmpty || hardState.term != previousHardState.term
                || hardState.vote != previousHardState.vote
        )
        previousSoftState = softState
        raft.messages = []
        raft.readStates = []
        return ready
    }

    /// Acknowledges a Ready: its entries and snapshot are persisted and its committed entries applied.
    public func advance(_ ready: Ready) {
        if let hardState = ready.hardState { previousHardState = hardState }
        if let last = ready.committedEntries.last {
            raft.appliedTo(last.index)
            raft.reduceUncommittedSize(ready.committedEntries)
        } else if let snapshot = ready.snapshot {
            raft.appliedTo(snapshot.metadata.index)
        }
        if let last = ready.entries.last {
            raft.log.stableTo(index: last.index, term: last.term)
        }
        if let snapshot = ready.snapshot {
            raft.log.stableSnapshotTo(index: snapshot.metadata.index)
        }
        raft.persisted()
    }
}

@available(*, unavailable, message: "RawNode belongs to one task; share it through that task")
extension RawNode: Sendable {}
