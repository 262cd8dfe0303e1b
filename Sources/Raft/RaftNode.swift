/// The Raft state machine of one node: every rule of the protocol, driven only by ``step(_:)`` and
/// ``tick()``. It performs no I/O; what it wants done accumulates in `messages`, `readStates` and the
/// log's unstable part, which ``RawNode`` hands to the application as a ``Ready``.
///
/// Internal: the public interface is ``RawNode``.
final class RaftNode {
    let id: UInt64
    private(set) var term: UInt64 = 0
    private(set) var vote: UInt64 = 0
    private(set) var lead: UInt64 = 0
    private(set) var state: StateType = .follower
    var log: RaftLog
    private(set) var tracker: ProgressTracker
    /// Messages to send, in the order they were produced.
    var messages: [Message] = []
    /// Confirmed reads for the application.
    var readStates: [ReadState] = []

    private let configuration: RaftConfiguration
    private var readOnly: ReadOnly
    /// Reads that arrived before this leader committed an entry of its term; until then its commit
    /// index may be behind the previous leader's, so they wait.
    private var pendingReadIndexMessages: [Message] = []
    /// The target of a leadership transfer in progress, or 0.
    private(set) var leadTransferee: UInt64 = 0
    /// The index of the latest conf change proposed; a new one is refused until it is applied.
    private(set) var pendingConfIndex: UInt64 = 0
    /// Payload bytes appended by this leader and not yet committed.
    private var uncommittedSize: UInt64 = 0
    /// Proposals were appended since appends were last broadcast: one message per follower carries
    /// all proposals made between two Readys (batching).
    private var appendsPending = false

    private var electionElapsed = 0
    private var heartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    private var randomNumberGenerator: any RandomNumberGenerator

    init(configuration: RaftConfiguration, storage: any Storage, randomNumberGenerator: any RandomNumberGenerator) {
        configuration.validate()
        self.configuration = configuration
        self.id = configuration.id
        self.randomNumberGenerator = randomNumberGenerator
        log = RaftLog(storage: storage, maxCommittedSizePerReady: configuration.maxCommittedSizePerReady)
        tracker = ProgressTracker(maxInflight: configuration.maxInflightMessages,
                                  maxInflightBytes: configuration.maxInflightBytes)
        readOnly = ReadOnly(option: configuration.readOnlyOption)
        guard let (hardState, confState) = try? storage.initialState() else {
            preconditionFailure("raft: storage cannot report its initial state")
        }
        tracker.reset(to: confState, next: log.lastIndex + 1)
        if !hardState.isEmpty { load(hardState) }
        if configuration.applied > 0 { log.applied(to: configuration.applied) }
        becomeFollower(term: term, lead: 0)
    }

    private func load(_ hardState: HardState) {
        precondition(hardState.commit <= log.lastIndex,
                     "\(id) state.commit \(hardState.commit) is out of range [\(log.committed), \(log.lastIndex)]")
        // A commit index behind the snapshot (a commit-only hard state need not be synced) is
        // harmless: the snapshot's index is committed by definition, and commit(to:) never moves back.
        log.commit(to: hardState.commit)
        term = hardState.term
        vote = hardState.vote
    }

    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    var softState: SoftState { SoftState(lead: lead, raftState: state) }

    /// A node may campaign only while it is a voter.
    var isPromotable: Bool { tracker.voters.contains(id) }

    // MARK: Sending

    private func send(_ message: Message) {
        var message = message
        // A set sender is kept: a forwarded transfer request names the transferee in `from`.
        if message.from == 0 { message.from = id }
        switch message.type {
        case .vote, .voteResponse, .preVote, .preVoteResponse:
            // Their term is set by the caller: a pre-vote carries the term it would campaign in, and a
            // granted pre-vote answers with the candidate's term.
            precondition(message.term != 0, "term should be set when sending \(message.type)")
        case .propose, .readIndex, .transferLeader:
            // Forwarded requests keep term 0: the leader treats them as local.
            break
        default:
            message.term = term
        }
        messages.append(message)
    }

    /// Sends an append (or a snapshot) to `to` even when there is nothing new, so that a probe still
    /// goes out.
    private func sendAppend(to: UInt64) {
        _ = maybeSendAppend(to: to, sendIfEmpty: true)
    }

    /// Sends what `to` needs next, unless its progress is paused or there is nothing to send; returns
    /// whether a message went out.
    @discardableResult
    private func maybeSendAppend(to: UInt64, sendIfEmpty: Bool) -> Bool {
        guard let progress = tracker.progress[to], !progress.isPaused else { return false }
        let previousTerm = try? log.term(at: progress.next - 1)
        let entries = try? log.entries(from: progress.next, maxSize: configuration.maxSizePerMessage)
        if let entries, entries.isEmpty, !sendIfEmpty { return false }

        guard let previousTerm, let entries else {
            // The entries were compacted: only a snapshot can catch the follower up. Send it only to a
            // follower known to be alive, since snapshots are expensive.
            guard progress.recentActive else { return false }
            let snapshot: Snapshot
            do {
                snapshot = try log.snapshot()
            } catch {
                // Temporarily unavailable: try again on a later heartbeat response.
                return false
            }
            precondition(!snapshot.isEmpty, "need non-empty snapshot")
            progress.becomeSnapshot(index: snapshot.metadata.index)
            send(Message(type: .snapshot, to: to, snapshot: snapshot))
            return true
        }

        let previousIndex = progress.next - 1
        if let last = entries.last?.index {
            switch progress.state {
            case .replicate:
                progress.optimisticUpdate(last)
                progress.inflights.add(index: last, bytes: entries.byteSize)
            case .probe:
                progress.probeSent = true
            case .snapshot:
                preconditionFailure("\(id) is sending append in unhandled state \(progress.state)")
            }
        }
        send(Message(type: .append, to: to, logTerm: previousTerm, index: previousIndex, entries: entries, commit: log.committed))
        return true
    }

    private func sendHeartbeat(to: UInt64, context: [UInt8]) {
        // Never tell a follower to commit past what it is known to hold: it might not have it yet.
        let commit = min(tracker.progress[to]?.match ?? 0, log.committed)
        send(Message(type: .heartbeat, to: to, commit: commit, context: context))
    }

    /// Sends every follower what it needs; a follower in replicate state gets as many messages as
    /// its in-flight window allows (pipelining), one in probe state gets a single probe.
    private func broadcastAppend() {
        for member in tracker.memberIDs where member != id {
            sendAppend(to: member)
            while maybeSendAppend(to: member, sendIfEmpty: false) {}
        }
    }

    private func broadcastHeartbeat(context: [UInt8]) {
        for member in tracker.memberIDs where member != id { sendHeartbeat(to: member, context: context) }
    }

    /// Sends the appends owed for proposals batched since the last call; ``RawNode`` calls this before
    /// building a Ready.
    func flushPendingAppends() {
        guard appendsPending else { return }
        appendsPending = false
        if state == .leader { broadcastAppend() }
    }

    var hasPendingAppends: Bool { appendsPending }

    // MARK: Leader bookkeeping

    /// Commits whatever a quorum now holds, if it is from the current term.
    @discardableResult
    private func maybeCommit() -> Bool {
        log.maybeCommit(maxIndex: tracker.committed(), term: term)
    }

    private func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        lead = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        leadTransferee = 0
        tracker.resetVotes()
        let lastIndex = log.lastIndex
        for member in tracker.memberIDs {
            guard let progress = tracker.progress[member] else { continue }
            // The leader's own copy counts only once persisted (see persisted()).
            progress.match = member == id ? log.stableLastIndex : 0
            progress.next = lastIndex + 1
            progress.state = .probe
            progress.probeSent = false
            progress.pendingSnapshot = 0
            // A node is always in touch with itself.
            progress.recentActive = member == id
            progress.inflights.reset()
        }
        pendingConfIndex = 0
        uncommittedSize = 0
        appendsPending = false
        readOnly = ReadOnly(option: configuration.readOnlyOption)
        pendingReadIndexMessages = []
    }

    private func resetRandomizedElectionTimeout() {
        let jitter = Int(randomNumberGenerator.next() % UInt64(configuration.electionTick))
        randomizedElectionTimeout = configuration.electionTick + jitter
    }

    /// Appends entries as leader; false when the uncommitted-size limit refuses them.
    private func appendEntries(_ entries: [Entry]) -> Bool {
        var entries = entries
        let lastIndex = log.lastIndex
        for offset in entries.indices {
            entries[offset].term = term
            entries[offset].index = lastIndex + 1 + UInt64(offset)
        }
        let size = entries.payloadSize
        if configuration.maxUncommittedEntriesSize > 0, uncommittedSize > 0,
           uncommittedSize + size > configuration.maxUncommittedEntriesSize {
            return false
        }
        uncommittedSize += size
        log.append(entries)
        // No self-acknowledgement here: the leader counts toward a quorum only for entries it has
        // persisted, which is what lets it send appends in parallel with its own write.
        return true
    }

    /// Called by ``RawNode/advance(_:)`` once a Ready's entries are persisted: the leader now counts
    /// its own copy, which may commit entries (at once in a single-voter cluster).
    func persisted() {
        guard state == .leader, let progress = tracker.progress[id] else { return }
        if progress.maybeUpdate(log.stableLastIndex) && maybeCommit() {
            releasePendingReadIndexMessages()
            broadcastAppend()
        }
    }

    /// Called by ``RawNode`` when the application reports entries applied, to release the
    /// uncommitted-size budget.
    func reduceUncommittedSize(_ entries: [Entry]) {
        guard state == .leader else { return }
        uncommittedSize -= min(uncommittedSize, entries.payloadSize)
    }

    // MARK: Timers

    func tick() {
        if state == .leader { tickHeartbeat() } else { tickElection() }
    }

    private var pastElectionTimeout: Bool { electionElapsed >= randomizedElectionTimeout }

    private func tickElection() {
        electionElapsed += 1
        if isPromotable && pastElectionTimeout {
            electionElapsed = 0
            try? step(Message(type: .hup, from: id))
        }
    }

    private func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= configuration.electionTick {
            electionElapsed = 0
            if configuration.checkQuorum { try? step(Message(type: .checkQuorum, from: id)) }
            // A transfer that did not finish within an election timeout has failed.
            if state == .leader && leadTransferee != 0 { leadTransferee = 0 }
        }
        guard state == .leader else { return }
        if heartbeatElapsed >= configuration.heartbeatTick {
            heartbeatElapsed = 0
            try? step(Message(type: .beat, from: id))
        }
    }

    // MARK: Role changes

    func becomeFollower(term newTerm: UInt64, lead newLead: UInt64) {
        reset(term: newTerm)
        lead = newLead
        state = .follower
    }

    private func becomeCandidate() {
        precondition(state != .leader, "invalid transition [leader -> candidate]")
        reset(term: term + 1)
        vote = id
        state = .candidate
    }

    private func becomePreCandidate() {
        precondition(state != .leader, "invalid transition [leader -> pre-candidate]")
        // Neither term nor vote change: a pre-vote round must not disturb anything.
        tracker.resetVotes()
        lead = 0
        state = .preCandidate
    }

    private func becomeLeader() {
        precondition(state != .follower, "invalid transition [follower -> leader]")
        reset(term: term)
        lead = id
        state = .leader
        tracker.progress[id]?.becomeReplicate()
        // Conf changes in the uncommitted tail might exist; refuse new ones until all is applied.
        pendingConfIndex = log.lastIndex
        // An empty entry of our term: committing it commits everything before it (figure 8) and lets
        // ReadIndex know the commit index is current.
        guard appendEntries([Entry()]) else {
            preconditionFailure("empty entry was dropped")
        }
    }

    // MARK: Elections

    private enum CampaignType {
        case preElection, election, transfer
    }

    private func hup(_ type: CampaignType) {
        guard state != .leader, isPromotable else { return }
        // A committed but unapplied conf change may remove this node; wait until it is applied.
        if hasUnappliedConfChanges() { return }
        campaign(type)
    }

    private func hasUnappliedConfChanges() -> Bool {
        guard log.applied < log.committed else { return false }
        guard let entries = try? log.slice(from: log.applied + 1, to: log.committed + 1, maxSize: .max) else {
            return false
        }
        return entries.contains { $0.type == .confChange }
    }

    private func campaign(_ type: CampaignType) {
        let voteType: MessageType
        let voteTerm: UInt64
        if type == .preElection {
            becomePreCandidate()
            voteType = .preVote
            voteTerm = term + 1
        } else {
            becomeCandidate()
            voteType = .vote
            voteTerm = term
        }
        tracker.recordVote(id, granted: true)
        if tracker.tallyVotes().result == .won {
            // A single voter wins at once.
            if type == .preElection { campaign(.election) } else { becomeLeader() }
            return
        }
        let context = type == .transfer ? campaignTransferContext : []
        for voter in tracker.voters.ids where voter != id {
            send(Message(type: voteType, to: voter, term: voteTerm, logTerm: log.lastTerm,
                         index: log.lastIndex, context: context))
        }
    }

    private func poll(_ from: UInt64, granted: Bool) -> VoteResult {
        tracker.recordVote(from, granted: granted)
        return tracker.tallyVotes().result
    }

    // MARK: Step

    func step(_ message: Message) throws {
        if message.term == 0 {
            // Local message.
        } else if message.term > term {
            if message.type == .vote || message.type == .preVote {
                let forced = message.context == campaignTransferContext
                // Leader stickiness: a node that heard from a live leader within the election timeout
                // ignores a disruptive candidate (e.g. one returning from a partition).
                let inLease = configuration.checkQuorum && lead != 0 && electionElapsed < configuration.electionTick
                if !forced && inLease { return }
            }
            switch message.type {
            case .preVote:
                // Never change term in response to a pre-vote.
                break
            case .preVoteResponse where !message.reject:
                // The candidate moves to this term only once it has a quorum of pre-votes.
                break
            default:
                let fromLeader = message.type == .append || message.type == .heartbeat || message.type == .snapshot
                becomeFollower(term: message.term, lead: fromLeader ? message.from : 0)
            }
        } else if message.term < term {
            if (configuration.checkQuorum || configuration.preVote)
                && (message.type == .heartbeat || message.type == .append) {
                // A stale leader (e.g. after a partition) would otherwise never learn the new term:
                // with check-quorum or pre-vote our higher term is not pushed to it by elections.
                send(Message(type: .appendResponse, to: message.from))
            } else if message.type == .preVote {
                // Tell a pre-candidate behind us about our term so that it does not keep trying.
                send(Message(type: .preVoteResponse, to: message.from, term: term, reject: true))
            }
            return
        }

        switch message.type {
        case .hup:
            hup(configuration.preVote ? .preElection : .election)
        case .vote, .preVote:
            // We can grant if we already voted for this candidate, or have not voted and know no
            // leader in this term, or it is a pre-vote for a future term.
            let canVote = vote == message.from
                || (vote == 0 && lead == 0)
                || (message.type == .preVote && message.term > term)
            let responseType: MessageType = message.type == .vote ? .voteResponse : .preVoteResponse
            if canVote && log.isUpToDate(lastIndex: message.index, term: message.logTerm) {
                // A granted vote answers in the candidate's term (for a pre-vote, the future term),
                // so the candidate does not discard it as stale.
                send(Message(type: responseType, to: message.from, term: message.term))
                if message.type == .vote {
                    electionElapsed = 0
                    vote = message.from
                }
            } else {
                send(Message(type: responseType, to: message.from, term: term, reject: true))
            }
        default:
            switch state {
            case .leader: try stepLeader(message)
            case .candidate, .preCandidate: try stepCandidate(message)
            case .follower: try stepFollower(message)
            }
        }
    }

    private func stepLeader(_ message: Message) throws {
        switch message.type {
        case .beat:
            broadcastHeartbeat(context: readOnly.lastPendingRequestContext)
            return
        case .checkQuorum:
            if !tracker.quorumActive(selfID: id) {
                becomeFollower(term: term, lead: 0)
            }
            for member in tracker.memberIDs where member != id {
                tracker.progress[member]?.recentActive = false
            }
            return
        case .propose:
            try proposeAsLeader(message)
            return
        case .readIndex:
            if tracker.isSingleton(id) {
                respondToReadIndex(message, index: log.committed)
                return
            }
            if !committedEntryInCurrentTerm {
                pendingReadIndexMessages.append(message)
                return
            }
            confirmReadIndex(message)
            return
        case .transferLeader:
            transferLeadership(to: message.from)
            return
        default:
            break
        }

        guard let progress = tracker.progress[message.from] else { return }
        switch message.type {
        case .appendResponse:
            progress.recentActive = true
            if message.reject {
                var nextProbe = message.rejectHint
                if message.logTerm > 0 {
                    // Skip all our entries with terms above the follower's hint term: they cannot
                    // match, so one round trip per term instead of per entry.
                    nextProbe = log.findConflictByTerm(index: message.rejectHint, term: message.logTerm)
                }
                if progress.maybeDecrTo(rejected: message.index, matchHint: nextProbe) {
                    if progress.state == .replicate { progress.becomeProbe() }
                    sendAppend(to: message.from)
                }
                return
            }
            let wasPaused = progress.isPaused
            guard progress.maybeUpdate(message.index) else { return }
            switch progress.state {
            case .probe:
                progress.becomeReplicate()
            case .snapshot where progress.match >= progress.pendingSnapshot:
                progress.becomeProbe()
                progress.becomeReplicate()
            case .replicate:
                progress.inflights.freeLE(message.index)
            case .snapshot:
                break
            }
            if maybeCommit() {
                releasePendingReadIndexMessages()
                broadcastAppend()
            } else if wasPaused {
                sendAppend(to: message.from)
            }
            // Fill the window: with pipelining, several appends may go out per acknowledgement.
            while maybeSendAppend(to: message.from, sendIfEmpty: false) {}
            if message.from == leadTransferee && progress.match == log.lastIndex {
                send(Message(type: .timeoutNow, to: message.from))
            }
        case .heartbeatResponse:
            progress.recentActive = true
            progress.probeSent = false
            if progress.state == .replicate && progress.inflights.isFull {
                progress.inflights.freeFirstOne()
            }
            if progress.match < log.lastIndex { sendAppend(to: message.from) }
            guard readOnly.option == .safe, !message.context.isEmpty,
                  let acks = readOnly.receiveAck(from: message.from, context: message.context),
                  tracker.voters.voteResult(acks) == .won else { return }
            for status in readOnly.advance(through: message.context) {
                respondToReadIndex(status.request, index: status.index)
            }
        case .snapshotStatus:
            guard progress.state == .snapshot else { return }
            if message.reject { progress.pendingSnapshot = 0 }
            progress.becomeProbe()
            // Wait for a heartbeat response before probing: the follower may still be applying it.
            progress.probeSent = true
        case .unreachable:
            // Optimistic replication to an unreachable follower is wasted; fall back to probing.
            if progress.state == .replicate { progress.becomeProbe() }
        default:
            break
        }
    }

    private func proposeAsLeader(_ message: Message) throws {
        precondition(!message.entries.isEmpty, "stepped empty MsgProp")
        guard tracker.progress[id] != nil else {
            // Removed from the configuration while still leader: it is stepping down.
            throw RaftError.proposalDropped(.notAMember)
        }
        guard leadTransferee == 0 else { throw RaftError.proposalDropped(.leaderTransferInProgress) }
        var entries = message.entries
        for offset in entries.indices where entries[offset].type == .confChange {
            // One change at a time: refuse while the previous change is not applied, and until this
            // leader has committed an entry of its own term (Ongaro's fix for single-server changes:
            // otherwise a change could be decided under a configuration a newer leader never saw).
            if pendingConfIndex > log.applied || !committedEntryInCurrentTerm {
                // The entry stays in the log as a no-op so that the proposal's other entries keep
                // their positions; the application sees the change never applied.
                entries[offset] = Entry()
            } else {
                pendingConfIndex = log.lastIndex + UInt64(offset) + 1
            }
        }
        guard appendEntries(entries) else { throw RaftError.proposalDropped(.uncommittedSizeExceeded) }
        appendsPending = true
    }

    private var committedEntryInCurrentTerm: Bool {
        (try? log.term(at: log.committed)) == term
    }

    private func releasePendingReadIndexMessages() {
        guard committedEntryInCurrentTerm, !pendingReadIndexMessages.isEmpty else { return }
        let waiting = pendingReadIndexMessages
        pendingReadIndexMessages = []
        for message in waiting { confirmReadIndex(message) }
    }

    private func confirmReadIndex(_ message: Message) {
        switch readOnly.option {
        case .safe:
            readOnly.addRequest(index: log.committed, request: message)
            // The leader acknowledges its own heartbeat.
            _ = readOnly.receiveAck(from: id, context: message.context)
            broadcastHeartbeat(context: message.context)
        case .leaseBased:
            respondToReadIndex(message, index: log.committed)
        }
    }

    private func respondToReadIndex(_ request: Message, index: UInt64) {
        if request.from == 0 || request.from == id {
            readStates.append(ReadState(index: index, requestContext: request.context))
        } else {
            send(Message(type: .readIndexResponse, to: request.from, index: index, context: request.context))
        }
    }

    private func transferLeadership(to transferee: UInt64) {
        guard let progress = tracker.progress[transferee], !progress.isLearner else { return }
        if leadTransferee == transferee { return }
        leadTransferee = 0
        if transferee == id { return }
        // The transfer must finish within an election timeout, or it is abandoned.
        electionElapsed = 0
        leadTransferee = transferee
        if progress.match == log.lastIndex {
            send(Message(type: .timeoutNow, to: transferee))
        } else {
            // Catch it up first; the append response then triggers TimeoutNow.
            sendAppend(to: transferee)
        }
    }

    private func stepCandidate(_ message: Message) throws {
        let myResponseType: MessageType = state == .preCandidate ? .preVoteResponse : .voteResponse
        switch message.type {
        case .propose:
            throw RaftError.proposalDropped(.noLeader)
        case .append:
            becomeFollower(term: message.term, lead: message.from)
            handleAppendEntries(message)
        case .heartbeat:
            becomeFollower(term: message.term, lead: message.from)
            handleHeartbeat(message)
        case .snapshot:
            becomeFollower(term: message.term, lead: message.from)
            handleSnapshot(message)
        case myResponseType:
            switch poll(message.from, granted: !message.reject) {
            case .won:
                if state == .preCandidate {
                    campaign(.election)
                } else {
                    becomeLeader()
                    broadcastAppend()
                }
            case .lost:
                // A pre-vote rejection with a higher term already made us follow that term.
                becomeFollower(term: term, lead: 0)
            case .pending:
                break
            }
        case .readIndex, .transferLeader:
            throw RaftError.proposalDropped(.noLeader)
        default:
            break
        }
    }

    private func stepFollower(_ message: Message) throws {
        switch message.type {
        case .propose:
            guard !configuration.disableProposalForwarding || lead == 0 else {
                throw RaftError.proposalDropped(.forwardingDisabled)
            }
            try forwardToLeader(message)
        case .transferLeader, .readIndex:
            try forwardToLeader(message)
        case .append, .heartbeat, .snapshot:
            // Only the leader of our term sends these: it is alive, so reset the election timer.
            electionElapsed = 0
            lead = message.from
            switch message.type {
            case .append: handleAppendEntries(message)
            case .heartbeat: handleHeartbeat(message)
            default: handleSnapshot(message)
            }
        case .timeoutNow:
            // The leader asked us to take over: campaign at once, skipping pre-vote.
            hup(.transfer)
        case .readIndexResponse:
            readStates.append(ReadState(index: message.index, requestContext: message.context))
        default:
            break
        }
    }

    /// Forwards a proposal, read or transfer request to the leader (best effort: see ``RawNode``).
    private func forwardToLeader(_ message: Message) throws {
        guard lead != 0 else { throw RaftError.proposalDropped(.noLeader) }
        var forwarded = message
        forwarded.to = lead
        send(forwarded)
    }

    private func handleAppendEntries(_ message: Message) {
        if message.index < log.committed {
            // Everything up to our commit index matches the leader already.
            send(Message(type: .appendResponse, to: message.from, index: log.committed))
            return
        }
        if let lastNew = log.maybeAppend(index: message.index, logTerm: message.logTerm,
                                         committed: message.commit, entries: message.entries) {
            send(Message(type: .appendResponse, to: message.from, index: lastNew))
            return
        }
        // Reject with a hint: the last index at or below the probe whose term is at most the probe's
        // term. The leader can skip straight to it.
        let hintIndex = log.findConflictByTerm(index: min(message.index, log.lastIndex), term: message.logTerm)
        let hintTerm = (try? log.term(at: hintIndex)) ?? 0
        send(Message(type: .appendResponse, to: message.from, logTerm: hintTerm, index: message.index,
                     reject: true, rejectHint: hintIndex))
    }

    private func handleHeartbeat(_ message: Message) {
        log.commit(to: message.commit)
        send(Message(type: .heartbeatResponse, to: message.from, context: message.context))
    }

    private func handleSnapshot(_ message: Message) {
        guard let snapshot = message.snapshot else { return }
        if restore(snapshot) {
            send(Message(type: .appendResponse, to: message.from, index: log.lastIndex))
        } else {
            send(Message(type: .appendResponse, to: message.from, index: log.committed))
        }
    }

    /// Installs a snapshot from the leader; false if it is not newer than what we have committed.
    private func restore(_ snapshot: Snapshot) -> Bool {
        let metadata = snapshot.metadata
        if metadata.index <= log.committed { return false }
        guard state == .follower else {
            // Defense in depth: only followers receive snapshots.
            becomeFollower(term: term + 1, lead: 0)
            return false
        }
        // Unlike etcd, a snapshot whose membership lacks this node is accepted: a member added after
        // the snapshot was taken gets it, and the entries after the snapshot add it. Nothing here
        // assumes a node is in its own configuration (a new member never is, at first).
        if log.matchTerm(index: metadata.index, term: metadata.term) {
            // We already have the snapshot's last entry: just fast-forward the commit index.
            log.commit(to: metadata.index)
            return false
        }
        log.restore(snapshot)
        tracker.reset(to: metadata.confState, next: log.lastIndex + 1)
        return true
    }

    // MARK: Membership

    /// Applies a committed conf change and returns the new membership.
    func applyConfChange(_ change: ConfChange) -> ConfState {
        let next = log.lastIndex + 1
        switch change.type {
        case .addNode:
            tracker.addVoter(change.nodeID, next: next)
        case .addLearnerNode:
            tracker.addLearner(change.nodeID, next: next)
        case .removeNode:
            tracker.remove(change.nodeID)
        }
        let confState = tracker.confState
        guard state == .leader else { return confState }
        if tracker.progress[id] == nil {
            // The leader removed itself: step down. The remaining voters elect a new leader, and this
            // node, no longer a voter, will not campaign.
            becomeFollower(term: term, lead: 0)
            return confState
        }
        if tracker.voters.count == 0 { return confState }
        // The quorum changed: something may have become committed, and new members need the log.
        if maybeCommit() {
            broadcastAppend()
        } else {
            for member in tracker.memberIDs where member != id {
                maybeSendAppend(to: member, sendIfEmpty: false)
            }
        }
        if leadTransferee != 0 && !tracker.voters.contains(leadTransferee) { leadTransferee = 0 }
        return confState
    }

    /// Called by ``RawNode/advance(_:)`` with the index the application has now applied.
    func appliedTo(_ index: UInt64) {
        log.applied(to: index)
    }
}
