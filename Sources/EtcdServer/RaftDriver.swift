import BTreeStore
import EtcdProto
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif
import Raft
import SnapshotFile
import Synchronization
import WAL

/// Where the driver's Raft messages go: the peer transport, or a simulated network.
package protocol RaftMessageTransport: AnyObject, Sendable {
    /// Sends messages; a snapshot message goes with the file `snapshotPath` names.
    func send(_ messages: [Message], snapshotPath: (Message) -> String?)
    /// The members to reach (the local one among them is ignored).
    func updatePeers(_ members: [ClusterMember])
}

extension PeerTransport: RaftMessageTransport {}

/// What the driver needs from the world besides its data: the time, a way to run slow work off
/// its thread, and what to do when the log cannot be written. A process uses the real ones; the
/// whole-server simulation gives simulated time, runs the work in line, and crashes only the
/// simulated member.
struct DriverEnvironment: Sendable {
    var now: @Sendable () -> ContinuousClock.Instant = { .now }
    /// The date request ids start from (unique across restarts because the clock moves on).
    var wallClock: @Sendable () -> Date = { Date() }
    var runInBackground: @Sendable (_ name: String, _ work: @escaping @Sendable () -> Void) -> Void = { name, work in
        let thread = Thread(block: work)
        thread.name = name
        thread.start()
    }
    /// The WAL refused a write or a sync: what is on disk is unknown, so serving on would risk
    /// acknowledging lost writes. The process exits at once (the failure is logged), as etcd's
    /// does.
    var persistFailed: @Sendable (any Error) -> Void = { _ in _exit(1) }
    /// The snapshot with this number (counting from 1) ends the process before its rename
    /// (the failpoint `snapshotCrashBeforeRename`).
    var crashBeforeSnapshotRename: Int?
    /// Installing the leader's snapshot ends the process after the file is adopted and before the
    /// WAL's marker (the failpoint `snapshotCrashAfterAdopt`).
    var crashAfterAdoptingSnapshot = false
    /// Entries kept in memory behind a snapshot, for followers that are slightly behind (a
    /// follower further behind gets the snapshot). Fewer in the simulation, so that its short
    /// runs send snapshots.
    var retainedEntries: UInt64 = 5000
}

/// What the rest of the server may read about consensus at any moment.
package struct RaftStatusSnapshot: Sendable, Hashable {
    package var leader: UInt64 = 0
    package var term: UInt64 = 0
    package var commitIndex: UInt64 = 0
    package var appliedIndex: UInt64 = 0
    package var isLeader = false
    package var leaderChanges = 0
    package var snapshotIndex: UInt64 = 0
    /// Bytes the WAL holds.
    package var walBytes = 0
}

/// Runs consensus: one thread owns the `RawNode`, the WAL and the state machine, and turns what
/// callers hand it (proposals, read requests, commands) into Ready cycles.
///
/// A Ready cycle: append the new entries and hard state to the WAL with one fdatasync (every
/// proposal that arrived since the last cycle shares it: group commit), hand messages to peers,
/// apply committed entries to the store in one batch, answer their waiting callers, then
/// `advance`. A dedicated thread (not Swift's two-thread cooperative pool) because fsync blocks,
/// and the gRPC handlers must keep running meanwhile.
package final class RaftDriver: @unchecked Sendable {
    // MARK: Shared with callers (locked)

    private struct Inbox {
        var proposals: [(id: UInt64, data: [UInt8])] = []
        var reads: [ReadWaiter] = []
        var commands: [Command] = []
        /// From peers, stepped in arrival order.
        var messages: [Message] = []
        var stopping = false

        var isEmpty: Bool {
            proposals.isEmpty && reads.isEmpty && commands.isEmpty && messages.isEmpty && !stopping
        }
    }

    enum Command {
        /// `compactingWAL`: also start a new WAL segment so the old ones can go (defragment).
        case snapshot(CheckedContinuation<String, any Error>?, compactingWAL: Bool)
        case snapshotSaved(index: UInt64, term: UInt64, path: String, waiters: [CheckedContinuation<String, any Error>])
        case snapshotFailed(any Error, waiters: [CheckedContinuation<String, any Error>])
        case transferLeadership(UInt64, CheckedContinuation<Void, any Error>)
        /// A membership change whose caller waits under `waiterID`.
        case confChange(ConfChange, waiterID: UInt64)
        case peerUnreachable(UInt64)
        case snapshotSent(to: UInt64, status: SnapshotStatus)
        /// A verified snapshot file from the leader with the message announcing it.
        /// Answered with nil once stepped, or why it was not.
        case snapshotReceived(Message, ReceivedSnapshot, @Sendable (String?) -> Void)
        /// Whether learner `id` has caught up with this leader (etcd: 90% of its log).
        case learnerReadiness(UInt64, CheckedContinuation<ServerError?, Never>)
    }

    struct ReceivedSnapshot {
        var contents: SnapshotContents
        var path: String
    }

    /// A linearizable read waiting for its ReadIndex to be applied: called with nil then, or
    /// with why it cannot be served. Called on the driver thread: it must return quickly.
    struct ReadWaiter {
        var complete: @Sendable (ServerError?) -> Void
        var deadline: ContinuousClock.Instant
    }

    /// A proposal's caller, called on the driver thread with the result once applied.
    private struct Waiter {
        var complete: @Sendable (ApplyResult) -> Void
        var deadline: ContinuousClock.Instant
    }

    private let condition = NSCondition()
    private var inbox = Inbox()
    private let waiters = Mutex<[UInt64: Waiter]>([:])
    private let published = Mutex(RaftStatusSnapshot())
    private let idGenerator: IDGenerator

    // MARK: Owned by the driver thread

    private let node: RawNode
    private let storage: MemoryStorage
    private let wal: WriteAheadLog
    package let applier: Applier
    private let snapshots: SnapshotDirectory
    private let identity: MemberIdentity
    package let members: ClusterMembers
    /// The members a joining member was told of, reachable until its log lists them itself.
    private let seeds: [ClusterMember]
    let transport: any RaftMessageTransport
    private let environment: DriverEnvironment
    /// Called once this member has applied its own removal: it must stop serving.
    private let removed: @Sendable () -> Void
    private let logger: Logger
    private let metrics: ServerMetrics
    private let tickInterval: Duration
    /// How much a new leader extends every lease (etcd's `Promote(electionTimeout)`).
    private let electionTimeout: Duration
    let requestTimeout: Duration
    private let snapshotCount: UInt64
    private let maxRequestBytes: Int
    private var confState: ConfState
    private var appliedIndex: UInt64
    private var snapshotIndex: UInt64
    private var snapshotInFlight = false
    /// Bytes of entries applied since the last snapshot began. A restart rebuilds the store from
    /// the newest snapshot and replays the entries after it, so besides etcd's entry count
    /// (`--snapshot-count`) a snapshot is also taken once this many bytes would be replayed: etcd
    /// needs no such bound, its store being on disk, but ours is rebuilt, and 10,000 transactions
    /// of 100 puts would otherwise mean a million puts to replay.
    private var appliedBytesSinceSnapshot = 0
    private var snapshotsStarted = 0
    private static let snapshotBytes = 64 << 20
    private var snapshotWaiters: [CheckedContinuation<String, any Error>] = []
    /// A defragmentation asked for the WAL before the next snapshot to be released.
    private var compactWALAfterSnapshot = false
    private var status = RaftStatusSnapshot()
    /// Proposals Raft dropped (no leader yet): retried each tick until their callers' deadlines.
    private var deferred: [(id: UInt64, data: [UInt8])] = []
    private var pendingReads: [ReadWaiter] = []
    private var readBatches: [UInt64: [ReadWaiter]] = [:]
    private var readsAwaitingApply: [(index: UInt64, waiters: [ReadWaiter])] = []
    private var nextReadBatch: UInt64 = 1
    private var campaigned = false
    private var transfers: [(target: UInt64, continuation: CheckedContinuation<Void, any Error>, deadline: ContinuousClock.Instant)] = []
    /// The snapshot the leader sent last, kept until Raft hands it back to install.
    private var receivedSnapshot: (index: UInt64, snapshot: ReceivedSnapshot)?
    private var isRemoved = false
    private var nextTick: ContinuousClock.Instant
    private var thread: Thread?
    private let stopped = NSCondition()
    private var isStopped = false
    /// Set (under `condition`) when the loop has exited: later work is refused.
    private var closed = false


    struct Recovered {
        var node: RawNode
        var storage: MemoryStorage
        var wal: WriteAheadLog
        var applier: Applier
        var confState: ConfState
        var snapshotIndex: UInt64
    }

    init(recovered: Recovered, snapshots: SnapshotDirectory, identity: MemberIdentity, members: ClusterMembers,
         seeds: [ClusterMember], transport: any RaftMessageTransport, logger: Logger, metrics: ServerMetrics,
         tickInterval: Duration, requestTimeout: Duration, electionTimeout: Duration, snapshotCount: UInt64,
         maxRequestBytes: Int, environment: DriverEnvironment = DriverEnvironment(),
         removed: @escaping @Sendable () -> Void) {
        node = recovered.node
        storage = recovered.storage
        wal = recovered.wal
        applier = recovered.applier
        confState = recovered.confState
        appliedIndex = recovered.snapshotIndex
        snapshotIndex = recovered.snapshotIndex
        self.snapshots = snapshots
        self.identity = identity
        self.members = members
        self.seeds = seeds
        self.transport = transport
        self.removed = removed
        self.logger = logger
        self.metrics = metrics
        self.tickInterval = tickInterval
        self.requestTimeout = requestTimeout
        self.electionTimeout = electionTimeout
        self.snapshotCount = snapshotCount
        self.maxRequestBytes = maxRequestBytes
        self.environment = environment
        nextTick = environment.now() + tickInterval
        idGenerator = IDGenerator(memberID: identity.memberID, now: environment.wallClock())
        status.snapshotIndex = recovered.snapshotIndex
        status.appliedIndex = recovered.snapshotIndex
        status.commitIndex = recovered.node.hardState.commit
        status.term = recovered.node.hardState.term
        published.withLock { $0 = status }
    }

    // MARK: Life cycle

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "raft"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Stops the loop after the current cycle (everything written is synced), fails what waits.
    func stop() {
        condition.lock()
        inbox.stopping = true
        condition.signal()
        condition.unlock()
        stopped.lock()
        while !isStopped && thread != nil { stopped.wait() }
        stopped.unlock()
    }

    package var raftStatus: RaftStatusSnapshot { published.withLock { $0 } }

    package var nextID: UInt64 { idGenerator.next() }

    // MARK: Requests

    /// Proposes a request and waits until it is applied.
    package func propose(_ request: InternalRequest) async throws(ServerError) -> ApplyResult {
        let result = await withCheckedContinuation { continuation in
            propose(request) { continuation.resume(returning: $0) }
        }
        if case .failure(let error) = result { throw error }
        return result
    }

    /// Proposes a request; `complete` gets the result once it is applied (or why it failed), on
    /// the driver thread or on the caller's, so it must return quickly.
    package func propose(_ request: InternalRequest, complete: @escaping @Sendable (ApplyResult) -> Void) {
        let id = idGenerator.next()
        let data: [UInt8]
        do {
            data = try request.encoded(id: id)
        } catch {
            complete(.failure(ServerError(.internalError, "etcdserver: \(error)")))
            return
        }
        if data.count > maxRequestBytes {
            complete(.failure(.requestTooLarge))
            return
        }
        let deadline = environment.now() + requestTimeout
        waiters.withLock { $0[id] = Waiter(complete: complete, deadline: deadline) }
        if !enqueue({ $0.proposals.append((id, data)) }), let waiter = waiters.withLock({ $0.removeValue(forKey: id) }) {
            waiter.complete(.failure(.stopped))
        }
    }

    /// Returns once this member has applied everything committed when the read was asked for
    /// (ReadIndex): a read after this sees every write acknowledged before it.
    package func linearizableBarrier() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            linearizableBarrier { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
        }
    }

    /// The barrier of `linearizableBarrier()`; `complete` gets nil once a read may be served, on
    /// the driver thread, so it must return quickly.
    package func linearizableBarrier(complete: @escaping @Sendable (ServerError?) -> Void) {
        let deadline = environment.now() + requestTimeout
        if !enqueue({ $0.reads.append(ReadWaiter(complete: complete, deadline: deadline)) }) {
            complete(.stopped)
        }
    }

    /// Saves a snapshot of the applied state now. - Returns: its path.
    /// - Parameter compactingWAL: also let go of the WAL before it at once (defragment).
    package func snapshotNow(compactingWAL: Bool = false) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            if !enqueue({ $0.commands.append(.snapshot(continuation, compactingWAL: compactingWAL)) }) {
                continuation.resume(throwing: ServerError.stopped)
            }
        }
    }

    package func transferLeadership(to target: UInt64) async throws {
        try await withCheckedThrowingContinuation { continuation in
            if !enqueue({ $0.commands.append(.transferLeadership(target, continuation)) }) {
                continuation.resume(throwing: ServerError.stopped)
            }
        }
    }

    /// Proposes a membership change and waits until it is applied. - Returns: the members after it.
    package func changeMembership(_ change: ConfChange.ChangeType, member: ClusterMember) async throws(ServerError) -> [ClusterMember] {
        let id = idGenerator.next()
        let conf = ConfChange(type: change, nodeID: member.id, context: ConfChangeContext.encode(id: id, member: member))
        let deadline = environment.now() + requestTimeout
        let result = await withCheckedContinuation { continuation in
            waiters.withLock { $0[id] = Waiter(complete: { continuation.resume(returning: $0) }, deadline: deadline) }
            if !enqueue({ $0.commands.append(.confChange(conf, waiterID: id)) }),
               let waiter = waiters.withLock({ $0.removeValue(forKey: id) }) {
                waiter.complete(.failure(.stopped))
            }
        }
        switch result {
        case .members(let members): return members
        case .failure(let error): throw error
        default: throw ServerError(.internalError, "etcdserver: unexpected result of a membership change")
        }
    }

    /// On the leader: nil when learner `id` has caught up enough to be promoted.
    package func learnerReadiness(_ id: UInt64) async -> ServerError? {
        await withCheckedContinuation { continuation in
            if !enqueue({ $0.commands.append(.learnerReadiness(id, continuation)) }) {
                continuation.resume(returning: .stopped)
            }
        }
    }

    // MARK: From peers

    package func receive(_ messages: [Message]) {
        enqueue { $0.messages.append(contentsOf: messages) }
    }

    package func reportUnreachable(_ id: UInt64) {
        enqueue { $0.commands.append(.peerUnreachable(id)) }
    }

    package func reportSnapshot(to id: UInt64, status: SnapshotStatus) {
        enqueue { $0.commands.append(.snapshotSent(to: id, status: status)) }
    }

    /// A snapshot file arrived: it is checked here (off the driver thread), then its message is
    /// stepped. - Returns: why it was refused, or nil.
    func snapshotArrived(_ message: Message, path: String) async -> String? {
        await withCheckedContinuation { continuation in
            snapshotArrived(message, path: path) { continuation.resume(returning: $0) }
        }
    }

    /// `snapshotArrived(_:path:)` with a callback: `answer` gets nil once the message is stepped
    /// (on the driver thread), or why the snapshot was refused.
    package func snapshotArrived(_ message: Message, path: String, answer: @escaping @Sendable (String?) -> Void) {
        let contents: SnapshotContents
        do {
            contents = try SnapshotFile.read(from: path)
        } catch {
            logger.error("rafthttp: received a damaged snapshot from \(hex(message.from)): \(error)")
            return answer("damaged snapshot: \(error)")
        }
        guard let metadata = message.snapshot?.metadata, contents.index == metadata.index, contents.term == metadata.term else {
            return answer("snapshot file does not match its message")
        }
        logger.info("rafthttp: received and saved database snapshot [index: \(metadata.index), from: \(hex(message.from))]")
        if !enqueue({ $0.commands.append(.snapshotReceived(message, ReceivedSnapshot(contents: contents, path: path), answer)) }) {
            answer("stopping")
        }
    }

    /// Hands work to the loop. - Returns: false once the loop has shut down (nothing will run it).
    @discardableResult
    private func enqueue(_ change: (inout Inbox) -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        let wasEmpty = inbox.isEmpty
        change(&inbox)
        if wasEmpty { condition.signal() }
        return true
    }

    // MARK: The loop

    private func run() {
        begin()
        var running = true
        while running {
            condition.lock()
            while inbox.isEmpty && environment.now() < nextTick {
                let wait = nextTick - environment.now()
                let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
            }
            condition.unlock()
            running = cycle()
        }
        shutDown()
    }

    /// Before the first cycle: connects to the members a snapshot recovered (entries replayed
    /// after it may change them) and sets the first tick.
    package func begin() {
        updatePeers()
        nextTick = environment.now() + tickInterval
    }

    /// When the next tick is due: the simulation runs a cycle then, if nothing comes before.
    package var nextTickDue: ContinuousClock.Instant { nextTick }

    /// Whether anything waits in the inbox for the next cycle.
    package var hasPendingWork: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !inbox.isEmpty
    }

    /// One pass of the loop: takes what waits in the inbox, ticks if a tick is due, steps the
    /// messages, proposes, and processes Ready. - Returns: false once the driver must stop
    /// (asked to, or the WAL failed).
    package func cycle() -> Bool {
        condition.lock()
        let work = inbox
        inbox = Inbox()
        condition.unlock()

        let now = environment.now()
        if now >= nextTick {
            node.tick()
            onTick(now: now)
            nextTick = now - nextTick > tickInterval * 5 ? now + tickInterval : nextTick + tickInterval
        }
        for command in work.commands { handle(command) }
        for message in work.messages {
            // Stale traffic (from removed members, or for an old term) is simply refused.
            try? node.step(message)
        }
        propose(work.proposals)
        if !work.reads.isEmpty {
            pendingReads.append(contentsOf: work.reads)
        }
        requestReadIndex()
        do {
            try processReady()
            // A lone voter need not wait out an election timeout to lead; Raft lets it
            // campaign once the bootstrap membership entries are applied.
            if !campaigned && status.leader == 0 && confState.voters == [identity.memberID]
                && appliedIndex >= status.commitIndex {
                campaigned = true
                try? node.campaign()
                try processReady()
            }
        } catch {
            // The WAL refuses further writes after a failed write or sync: what is on disk is
            // unknown, so serving on would risk acknowledging lost writes (etcd exits too).
            logger.critical("failed to persist raft entries: \(error); stopping")
            environment.persistFailed(error)
            return false
        }
        return !work.stopping
    }

    private func propose(_ proposals: [(id: UInt64, data: [UInt8])]) {
        for proposal in proposals {
            do {
                try node.propose(proposal.data)
                metrics.proposalsPending.add(1, ordering: .relaxed)
            } catch {
                deferred.append(proposal)
            }
        }
    }

    private func onTick(now: ContinuousClock.Instant) {
        if !deferred.isEmpty && status.leader != 0 {
            let retry = deferred
            deferred = []
            propose(retry)
        }
        // Callers whose deadline passed get etcd's timeout; their entries may still apply later.
        var expired: [Waiter] = []
        waiters.withLock { waiters in
            for (id, waiter) in waiters where waiter.deadline <= now {
                expired.append(waiter)
                waiters[id] = nil
            }
        }
        if !expired.isEmpty {
            deferred.removeAll { proposal in waiters.withLock { $0[proposal.id] == nil } }
            metrics.proposalsFailed.add(expired.count, ordering: .relaxed)
        }
        for waiter in expired { waiter.complete(.failure(status.leader == 0 ? .noLeader : .timeout)) }
        failExpiredReads(now: now)
        for (index, transfer) in transfers.enumerated().reversed() where transfer.deadline <= now {
            transfers.remove(at: index)
            transfer.continuation.resume(throwing: ServerError.timeout)
        }
        snapshotIfDue()
    }

    /// Checked after every applied batch, as etcd does, so snapshots land near every
    /// `--snapshot-count` entries; the tick retries one that was due while another was in flight.
    private func snapshotIfDue() {
        if snapshotCount > 0 && !snapshotInFlight
            && (appliedIndex - snapshotIndex >= snapshotCount || appliedBytesSinceSnapshot >= Self.snapshotBytes) {
            startSnapshot()
        }
    }

    private func failExpiredReads(now: ContinuousClock.Instant) {
        func split(_ waiters: [ReadWaiter]) -> [ReadWaiter] {
            var kept: [ReadWaiter] = []
            for waiter in waiters {
                if waiter.deadline <= now {
                    waiter.complete(.timeout)
                } else {
                    kept.append(waiter)
                }
            }
            return kept
        }
        pendingReads = split(pendingReads)
        for (batch, waiters) in readBatches {
            let kept = split(waiters)
            readBatches[batch] = kept.isEmpty ? nil : kept
        }
        // A batch whose ReadIndex went unanswered (dropped by a leader change) is asked again.
        if !readBatches.isEmpty && status.leader != 0 {
            for (_, waiters) in readBatches { pendingReads.append(contentsOf: waiters) }
            readBatches = [:]
        }
    }

    private func requestReadIndex() {
        guard !pendingReads.isEmpty, status.leader != 0 else { return }
        let batch = nextReadBatch
        nextReadBatch += 1
        var context: [UInt8] = []
        withUnsafeBytes(of: batch.littleEndian) { context.append(contentsOf: $0) }
        do {
            try node.readIndex(context: context)
            readBatches[batch] = pendingReads
            pendingReads = []
        } catch {
            // Not possible now (no leader known); kept for the next cycle.
        }
    }

    private func processReady() throws {
        while node.hasReady {
            let ready = node.ready()
            if let soft = ready.softState { leadershipChanged(soft) }
            // A leader's appends, heartbeats and snapshots may leave while it writes its own copy
            // (Raft counts its own copy only after advance); every other message promises state
            // that must be durable first.
            var early: [Message] = [], late: [Message] = []
            for message in ready.messages {
                switch message.type {
                case .append, .heartbeat, .snapshot: early.append(message)
                default: late.append(message)
                }
            }
            send(early)
            if let snapshot = ready.snapshot { try install(snapshot) }
            if !ready.entries.isEmpty || ready.hardState != nil {
                let start = environment.now()
                try wal.save(hardState: ready.hardState, entries: ready.entries, sync: ready.mustSync)
                if ready.mustSync { metrics.walFsync.observe(environment.now() - start) }
            }
            storage.append(ready.entries)
            if let hardState = ready.hardState {
                storage.setHardState(hardState)
                applier.term = hardState.term
                status.term = hardState.term
                status.commitIndex = hardState.commit
            }
            send(late)
            apply(ready.committedEntries)
            if !ready.committedEntries.isEmpty { snapshotIfDue() }
            for readState in ready.readStates { readIndexAnswered(readState) }
            node.advance(ready)
            answerReads()
        }
        publishStatus()
    }

    private func send(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        let snapshots = snapshots
        transport.send(messages) { message in
            guard let metadata = message.snapshot?.metadata else { return nil }
            return snapshots.path(term: metadata.term, index: metadata.index)
        }
    }

    /// Replaces this member's state with the leader's snapshot (Raft has accepted it): the file
    /// becomes the newest snapshot, the store, leases, alarms and membership are restored from it,
    /// and the WAL records it so a restart starts from it.
    private func install(_ snapshot: Raft.Snapshot) throws {
        let metadata = snapshot.metadata
        guard let received = receivedSnapshot, received.index == metadata.index else {
            fatalError("etcdserver: raft accepted snapshot \(metadata.index) but its file is not here")
        }
        receivedSnapshot = nil
        let contents = received.snapshot.contents
        _ = try snapshots.adopt(received.snapshot.path, term: metadata.term, index: metadata.index)
        if environment.crashAfterAdoptingSnapshot {
            FileHandle.standardError.write(Data("etcdserver: failpoint snapshotCrashAfterAdopt: exiting after adopting snapshot \(metadata.index)\n".utf8))
            _exit(86)
        }
        applier.store.restore(importing: contents.store)
        applier.lessor.restore(contents.leases, leasedKeys: applier.store.readView.leasedKeys())
        applier.alarms.replace(with: contents.alarms.map { alarm in
            var member = Etcdserverpb_AlarmMember()
            member.memberID = alarm.memberID
            member.alarm = Etcdserverpb_AlarmType(rawValue: Int(alarm.alarm)) ?? .none
            return member
        })
        members.replace(with: contents.members.map(ClusterMember.init))
        updatePeers()
        confState = metadata.confState
        try wal.saveSnapshotMarker(WALSnapshotMarker(index: metadata.index, term: metadata.term, confState: confState))
        try storage.applySnapshot(snapshot)
        appliedIndex = metadata.index
        snapshotIndex = metadata.index
        status.appliedIndex = metadata.index
        status.snapshotIndex = metadata.index
        try? snapshots.prune(keep: 5)
        logger.info("etcdserver: applied snapshot at index \(metadata.index) (revision \(contents.store.currentRevision)) from the leader")
    }

    private func leadershipChanged(_ soft: SoftState) {
        let wasLeader = status.isLeader
        if soft.lead != status.leader {
            if soft.lead != 0 {
                logger.info("raft.node: \(hex(identity.memberID)) elected leader \(hex(soft.lead)) at term \(node.hardState.term)")
            } else {
                logger.info("raft.node: \(hex(identity.memberID)) lost leader \(hex(status.leader)) at term \(node.hardState.term)")
            }
            status.leaderChanges += 1
        }
        status.leader = soft.lead
        status.isLeader = soft.raftState == .leader
        if status.isLeader && !wasLeader { applier.lessor.promote(extension: electionTimeout) }
        if !status.isLeader && wasLeader { applier.lessor.demote() }
        for (index, transfer) in transfers.enumerated().reversed() where transfer.target == soft.lead {
            transfers.remove(at: index)
            transfer.continuation.resume()
        }
    }

    private func apply(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        var answers: [(@Sendable (ApplyResult) -> Void, ApplyResult)] = []
        applier.store.batch {
            for entry in entries {
                defer { appliedIndex = entry.index }
                switch entry.type {
                case .normal:
                    guard !entry.data.isEmpty else { continue }
                    appliedBytesSinceSnapshot += entry.data.count
                    let decoded: (id: UInt64, request: InternalRequest)
                    do {
                        decoded = try InternalRequest.decode(entry.data)
                    } catch {
                        // Every member would fail the same way; applying on regardless would make
                        // this member's state differ from what the log says.
                        fatalError("etcdserver: cannot apply entry \(entry.index): \(error)")
                    }
                    let result = applier.apply(decoded.request)
                    if case .memberPeerURLs = decoded.request { updatePeers() }
                    metrics.countApplied(decoded.request, result: result)
                    if let waiter = waiters.withLock({ $0.removeValue(forKey: decoded.id) }) {
                        answers.append((waiter.complete, result))
                    }
                case .confChange:
                    guard let change = ConfChange(decoding: entry.data) else { continue }
                    let (waiterID, member) = ConfChangeContext.decode(change.context)
                    let result = applyMembership(change, member: member)
                    if let waiter = waiters.withLock({ $0.removeValue(forKey: waiterID) }) {
                        answers.append((waiter.complete, result))
                    }
                }
            }
        }
        metrics.proposalsApplied.add(entries.count, ordering: .relaxed)
        metrics.proposalsPending.store(max(0, metrics.proposalsPending.load(ordering: .relaxed) - entries.count),
                                       ordering: .relaxed)
        status.appliedIndex = appliedIndex
        for (complete, result) in answers { complete(result) }
    }

    /// A membership change, validated the same way on every member (etcd's
    /// `ValidateConfigurationChange`); a refused one leaves Raft's membership as it was.
    private func applyMembership(_ change: ConfChange, member: ClusterMember?) -> ApplyResult {
        var member = member
        // Data directories from before the cluster work recorded no member in their bootstrap entries.
        if member == nil && change.nodeID == identity.memberID {
            member = ClusterMember(id: identity.memberID, name: "", peerURLs: identity.peerURLs, clientURLs: [],
                                   isLearner: false)
        }
        if let error = members.validate(change, member: member) {
            logger.warning("etcdserver: refused membership change \(change.type) of \(hex(change.nodeID)): \(error)")
            return .failure(error)
        }
        members.apply(change, member: member)
        confState = node.applyConfChange(change)
        updatePeers()
        switch change.type {
        case .addNode, .addLearnerNode:
            logger.info("etcdserver/membership: added member \(hex(change.nodeID)) \(member?.peerURLs ?? []) to cluster \(hex(identity.clusterID))\(change.type == .addLearnerNode ? " as learner" : "")")
        case .removeNode:
            logger.info("etcdserver/membership: removed member \(hex(change.nodeID)) from cluster \(hex(identity.clusterID))")
            if change.nodeID == identity.memberID && !isRemoved {
                isRemoved = true
                logger.warning("etcdserver: the member has been permanently removed from the cluster")
                removed()
            }
        }
        return .members(members.all)
    }

    /// Connects to the members the log lists, and to the seeds while it does not list this one yet.
    private func updatePeers() {
        var current = members.all
        if !current.contains(where: { $0.id == identity.memberID }) {
            let known = Set(current.map(\.id))
            current += seeds.filter { !known.contains($0.id) }
        }
        transport.updatePeers(current)
    }

    private func readIndexAnswered(_ readState: ReadState) {
        guard readState.requestContext.count == 8 else { return }
        var batch: UInt64 = 0
        for (shift, byte) in readState.requestContext.enumerated() { batch |= UInt64(byte) << (8 * UInt64(shift)) }
        guard let waiters = readBatches.removeValue(forKey: batch) else { return }
        readsAwaitingApply.append((readState.index, waiters))
    }

    private func answerReads() {
        guard !readsAwaitingApply.isEmpty else { return }
        var kept: [(index: UInt64, waiters: [ReadWaiter])] = []
        for batch in readsAwaitingApply {
            if batch.index <= appliedIndex {
                for waiter in batch.waiters { waiter.complete(nil) }
            } else {
                kept.append(batch)
            }
        }
        readsAwaitingApply = kept
    }

    private func publishStatus() {
        status.walBytes = wal.bytesInUse
        let current = status
        published.withLock { $0 = current }
    }

    // MARK: Commands

    private func handle(_ command: Command) {
        switch command {
        case .snapshot(let waiter, let compactingWAL):
            if let waiter { snapshotWaiters.append(waiter) }
            if compactingWAL { compactWALAfterSnapshot = true }
            if !snapshotInFlight { startSnapshot() }
        case .snapshotSaved(let index, let term, let path, let waiters):
            snapshotInFlight = false
            do {
                try wal.saveSnapshotMarker(WALSnapshotMarker(index: index, term: term, confState: confState))
                if index > snapshotIndex {
                    _ = try? storage.createSnapshot(index: index, confState: confState, data: [])
                    let retained = environment.retainedEntries
                    if index > retained, let first = try? storage.firstIndex(), index - retained >= first {
                        try storage.compact(through: index - retained)
                    }
                    snapshotIndex = index
                    status.snapshotIndex = index
                }
                // Only when nothing was appended after the snapshot: otherwise the current segment
                // still holds entries it does not cover, and a new one would only add a file.
                if compactWALAfterSnapshot && wal.lastIndex == index { try wal.startNewSegment() }
                compactWALAfterSnapshot = false
                try wal.releaseSegments(through: index)
                try snapshots.prune(keep: 5)
                logger.info("etcdserver: saved snapshot at index \(index) to \(path)")
                for waiter in waiters { waiter.resume(returning: path) }
            } catch {
                logger.error("etcdserver: failed to record snapshot at index \(index): \(error)")
                for waiter in waiters { waiter.resume(throwing: error) }
            }
            // Asked for while this one was being written: they want a newer state.
            if !snapshotWaiters.isEmpty { startSnapshot() } else { snapshotIfDue() }
        case .snapshotFailed(let error, let waiters):
            snapshotInFlight = false
            logger.error("etcdserver: failed to save snapshot: \(error)")
            for waiter in waiters { waiter.resume(throwing: error) }
        case .transferLeadership(let target, let continuation):
            if status.leader == target {
                continuation.resume()
            } else if !status.isLeader {
                continuation.resume(throwing: ServerError.notLeader)
            } else if !confState.voters.contains(target) {
                continuation.resume(throwing: ServerError.badLeaderTransferee)
            } else {
                do {
                    try node.transferLeadership(to: target)
                    transfers.append((target, continuation, environment.now() + requestTimeout))
                } catch {
                    continuation.resume(throwing: ServerError.badLeaderTransferee)
                }
            }
        case .confChange(let change, let waiterID):
            do {
                try node.proposeConfChange(change)
            } catch {
                if let waiter = waiters.withLock({ $0.removeValue(forKey: waiterID) }) {
                    waiter.complete(.failure(status.leader == 0 ? .noLeader : .timeout))
                }
            }
        case .peerUnreachable(let id):
            node.reportUnreachable(id)
        case .snapshotSent(let id, let status):
            node.reportSnapshot(to: id, status: status)
        case .snapshotReceived(let message, let snapshot, let answer):
            if let previous = receivedSnapshot, previous.snapshot.path != snapshot.path {
                unlink(previous.snapshot.path)
            }
            receivedSnapshot = (snapshot.contents.index, snapshot)
            try? node.step(message)
            answer(nil)
        case .learnerReadiness(let id, let continuation):
            let raft = node.status
            guard raft.softState.raftState == .leader else {
                continuation.resume(returning: .notLeader)
                return
            }
            guard let learner = raft.progress[id], let leader = raft.progress[identity.memberID] else {
                continuation.resume(returning: nil)
                return
            }
            // etcd's rule: the learner's log matches at least 90% of the leader's.
            continuation.resume(returning: Double(learner.match) < Double(leader.match) * 0.9 ? .learnerNotReady : nil)
        }
    }

    /// Captures the applied state (O(1): an immutable view) and writes it on another thread.
    private func startSnapshot() {
        let waiters = snapshotWaiters
        snapshotWaiters = []
        snapshotInFlight = true
        appliedBytesSinceSnapshot = 0
        let index = appliedIndex
        let term = (try? storage.term(at: index)) ?? status.term
        let view = applier.store.readView
        let leases = applier.lessor.snapshot()
        let alarms = applier.alarms.all.map { SnapshotAlarm(memberID: $0.memberID, alarm: Int32($0.alarm.rawValue)) }
        let conf = confState
        let identity = identity
        let snapshots = snapshots
        let memberList = members.all.map(\.snapshotMember)
        snapshotsStarted += 1
        let crashes = environment.crashBeforeSnapshotRename == snapshotsStarted
        environment.runInBackground("snapshot") { [self] in
            let contents = SnapshotContents(
                index: index, term: term, voters: conf.voters, learners: conf.learners,
                clusterID: identity.clusterID, members: memberList, store: view.export(), leases: leases,
                alarms: alarms)
            do {
                let path = try snapshots.save(contents, beforeRename: {
                    guard crashes else { return }
                    FileHandle.standardError.write(Data("etcdserver: failpoint snapshotCrashBeforeRename: exiting before renaming snapshot \(index)\n".utf8))
                    _exit(86)
                })
                enqueue { $0.commands.append(.snapshotSaved(index: index, term: term, path: path, waiters: waiters)) }
            } catch {
                enqueue { $0.commands.append(.snapshotFailed(error, waiters: waiters)) }
            }
        }
    }

    private func shutDown() {
        try? wal.sync()
        condition.lock()
        closed = true
        let late = inbox
        inbox = Inbox()
        condition.unlock()
        let remaining = waiters.withLock { waiters in
            let all = Array(waiters.values)
            waiters = [:]
            return all
        }
        for waiter in remaining { waiter.complete(.failure(.stopped)) }
        for waiter in pendingReads { waiter.complete(.stopped) }
        for (_, batch) in readBatches { for waiter in batch { waiter.complete(.stopped) } }
        for batch in readsAwaitingApply { for waiter in batch.waiters { waiter.complete(.stopped) } }
        for transfer in transfers { transfer.continuation.resume(throwing: ServerError.stopped) }
        for waiter in snapshotWaiters { waiter.resume(throwing: ServerError.stopped) }
        // Work that arrived after the last cycle (proposals' waiters were failed above).
        for waiter in late.reads { waiter.complete(.stopped) }
        for command in late.commands {
            switch command {
            case .snapshot(let waiter, _): waiter?.resume(throwing: ServerError.stopped)
            case .snapshotSaved(_, _, _, let waiters), .snapshotFailed(_, let waiters):
                for waiter in waiters { waiter.resume(throwing: ServerError.stopped) }
            case .transferLeadership(_, let continuation): continuation.resume(throwing: ServerError.stopped)
            case .snapshotReceived(_, _, let answer): answer("stopping")
            case .learnerReadiness(_, let continuation): continuation.resume(returning: .stopped)
            case .confChange, .peerUnreachable, .snapshotSent: break
            }
        }
        stopped.lock()
        isStopped = true
        stopped.broadcast()
        stopped.unlock()
    }
}

func hex(_ value: UInt64) -> String { String(value, radix: 16) }
