import Raft
@testable import Raft

/// A broken invariant, with enough context to start debugging from the seed.
struct SimulationFailure: Error, CustomStringConvertible {
    var description: String
}

/// One member of the simulated cluster: a RawNode (nil while crashed) over a ``MemoryStorage`` that
/// plays the disk, plus a state machine that records which payload it applied at each index.
final class SimulatedMember {
    let id: UInt64
    /// What survives a crash: exactly what the member persisted from its Readys.
    let storage: MemoryStorage
    var node: RawNode?
    /// Payload applied at each index (0 for empty and conf change entries), from index 1.
    var stateMachine: [UInt64] = []
    /// The membership as of the last applied entry; saved in snapshots.
    var confState: ConfState
    var restarts: UInt64 = 0

    init(id: UInt64, confState: ConfState) {
        self.id = id
        self.confState = confState
        storage = MemoryStorage(confState: confState)
    }

    var appliedIndex: UInt64 { UInt64(stateMachine.count) }
}

/// A message on the wire, due for delivery at round `deliverAt`.
struct InFlightMessage {
    var deliverAt: Int
    var message: Message
}

/// A deterministic cluster of RawNodes driven by one seed: a scheduler that ticks, delivers, drops,
/// duplicates and reorders messages, partitions and heals the network, crashes and restarts members,
/// compacts logs, transfers leadership, changes membership and issues reads, checking Raft's safety
/// properties after every step. Modeled on TigerBeetle's VOPR: any failure replays from its seed.
final class ClusterSimulator {
    let seed: UInt64
    private var random: SeededRandomNumberGenerator
    private(set) var members: [UInt64: SimulatedMember] = [:]
    /// Every ID that was ever created, sorted, for deterministic iteration.
    private var memberIDs: [UInt64] = []
    private var network: [InFlightMessage] = []
    private var round = 0
    /// Group number per member; messages between groups are lost.
    private var partition: [UInt64: Int] = [:]
    private var faultsEnabled = true
    private var nextPayload: UInt64 = 1
    private var nextMemberID: UInt64
    private let initialVoters: [UInt64]
    /// One seed in four runs in high churn: leaders crash right after appending, which is what the
    /// Raft paper's figure 8 scenarios need.
    private var crashRate: Double { seed % 4 == 3 ? 0.04 : 0.01 }

    // Oracles for the safety checks.
    /// The leader of each term ever observed (election safety).
    private var leaderOfTerm: [UInt64: UInt64] = [:]
    /// Per (index, term): the payload and the term of the previous entry. Unique content per
    /// (index, term) plus a unique predecessor term proves log matching by induction on the index.
    private var entryContent: [EntryKey: (payload: [UInt8], previousTerm: UInt64)] = [:]
    /// Payload applied at each index by anyone (state machine safety), with the highest term of an
    /// applying member at that moment: a leader of a later term must hold the entry.
    private var appliedOracle: [(term: UInt64, payload: UInt64, termBound: UInt64)] = []
    /// Leaders already checked for completeness, by (id, term).
    private var checkedLeaders: Set<EntryKey> = []
    /// Outstanding reads: context -> the highest applied index anywhere when the read was issued.
    private var pendingReads: [[UInt8]: UInt64] = [:]
    private var nextReadContext: UInt64 = 1
    private(set) var statistics = Statistics()

    struct Statistics {
        var committedProposals = 0
        var crashes = 0
        var snapshotsSent = 0
        var readsConfirmed = 0
        var confChangesApplied = 0
        var leaderChanges = 0
    }

    struct EntryKey: Hashable {
        var index: UInt64
        var term: UInt64
    }

    init(seed: UInt64, memberCount: Int) {
        self.seed = seed
        random = SeededRandomNumberGenerator(seed: seed)
        let ids = (1...UInt64(memberCount)).map { $0 }
        nextMemberID = UInt64(memberCount) + 1
        initialVoters = ids
        let confState = ConfState(voters: ids)
        for id in ids {
            let member = SimulatedMember(id: id, confState: confState)
            members[id] = member
            memberIDs.append(id)
            start(member)
        }
    }

    private func configuration(for id: UInt64, applied: UInt64) -> RaftConfiguration {
        // Vary flow control by seed: one entry per message exposes commit-rule bugs (a follower acks an
        // old-term entry without the new leader's entry), big windows exercise pipelining.
        let variant = Int(seed / 2 % 3)
        return RaftConfiguration(id: id, electionTick: 10, heartbeatTick: 2, applied: applied,
                                 maxSizePerMessage: [1, 256, 4096][variant],
                                 maxInflightMessages: [2, 4, 64][variant],
                                 maxInflightBytes: [0, 2048, 0][variant])
    }

    private func start(_ member: SimulatedMember) {
        member.restarts += 1
        member.node = RawNode(configuration: configuration(for: member.id, applied: member.appliedIndex),
                              storage: member.storage,
                              randomSeed: seed &* 31 &+ member.id &* 1_000_003 &+ member.restarts)
    }

    private func chance(_ probability: Double) -> Bool {
        Double(random.next() % 1_000_000) < probability * 1_000_000
    }

    private func pick<T>(_ values: [T]) -> T? {
        values.isEmpty ? nil : values[Int(random.next() % UInt64(values.count))]
    }

    private var liveMembers: [SimulatedMember] {
        memberIDs.compactMap { members[$0] }.filter { $0.node != nil }
    }

    private var leaders: [SimulatedMember] {
        liveMembers.filter { $0.node!.softState.raftState == .leader }
    }

    // MARK: Running

    /// Runs `rounds` rounds with faults, then heals everything and requires a new proposal to be
    /// applied by every member of the final configuration within `healingBound` rounds.
    func run(rounds: Int, healingBound: Int) throws {
        for _ in 0..<rounds {
            try faultyRound()
        }
        try heal(within: healingBound)
    }

    private func faultyRound() throws {
        round += 1
        for member in liveMembers where chance(0.5) { member.node!.tick() }
        try deliverDueMessages()
        try processReadies()

        if chance(0.3), let member = pick(liveMembers) {
            let payload = nextPayload
            nextPayload += 1
            try? member.node!.propose(payloadBytes(payload))
        }
        if chance(crashRate), let member = pick(liveMembers), liveMembers.count > 1 {
            crash(member)
        }
        if chance(0.05), let member = pick(memberIDs.compactMap { members[$0] }.filter { $0.node == nil }) {
            start(member)
        }
        if chance(0.01) { partitionRandomly() }
        if chance(0.03) { partition = [:] }
        if chance(0.03), let member = pick(liveMembers) { try compact(member) }
        if chance(0.01), let leader = pick(leaders), let target = pick(leader.confState.voters) {
            try? leader.node!.transferLeadership(to: target)
        }
        if chance(0.01), let member = pick(liveMembers) { issueRead(on: member) }
        if chance(0.01) { proposeMembershipChange() }
        try checkLeaders()
    }

    private func heal(within bound: Int) throws {
        faultsEnabled = false
        partition = [:]
        for id in memberIDs where members[id]!.node == nil { start(members[id]!) }
        let marker = nextPayload
        nextPayload += 1
        for healingRound in 0..<bound {
            round += 1
            for member in liveMembers { member.node!.tick() }
            try deliverDueMessages()
            try processReadies()
            try checkLeaders()
            let voters = currentConfiguration()
            let everyoneApplied = voters.allSatisfy { id in
                members[id]?.stateMachine.contains(marker) ?? false
            }
            if everyoneApplied { return }
            if healingRound % 15 == 0, let leader = leaders.max(by: { $0.node!.hardState.term < $1.node!.hardState.term }) {
                try? leader.node!.propose(payloadBytes(marker))
            }
        }
        let summary = memberIDs.map { id -> String in
            let member = members[id]!
            guard let node = member.node else { return "\(id): down" }
            var progress = ""
            if node.softState.raftState == .leader {
                progress = " progress " + node.raft.tracker.memberIDs.map { "\($0): \(node.raft.tracker.progress[$0]!)" }.joined(separator: "; ")
                progress += " firstIndex \(node.raft.log.firstIndex)"
            }
            return "\(id): \(node.softState.raftState)\(progress) term \(node.hardState.term) commit \(node.hardState.commit) applied \(member.appliedIndex) conf \(member.confState.voters)/\(member.confState.learners)"
        }
        throw SimulationFailure(description: "no progress within \(bound) rounds after healing: \(summary)")
    }

    /// The membership everyone should converge on: the latest configuration applied anywhere.
    private func currentConfiguration() -> [UInt64] {
        let newest = memberIDs.compactMap { members[$0] }.max { $0.appliedIndex < $1.appliedIndex }
        return newest.map { $0.confState.voters + $0.confState.learners } ?? []
    }

    // MARK: Network

    private func send(_ messages: [Message]) {
        for message in messages {
            if faultsEnabled && chance(0.05) {
                reportSnapshotOutcome(message, delivered: false)
                continue
            }
            let delay = faultsEnabled ? Int(random.next() % 4) : Int(random.next() % 2)
            network.append(InFlightMessage(deliverAt: round + delay, message: message))
            if faultsEnabled && chance(0.02) {
                network.append(InFlightMessage(deliverAt: round + Int(random.next() % 6), message: message))
            }
        }
    }

    private func deliverDueMessages() throws {
        var due: [Message] = []
        var waiting: [InFlightMessage] = []
        for inFlight in network {
            if inFlight.deliverAt <= round { due.append(inFlight.message) } else { waiting.append(inFlight) }
        }
        network = waiting
        // Shuffle what is due: delivery order within a round is arbitrary.
        if due.count > 1 {
            for position in stride(from: due.count - 1, to: 0, by: -1) {
                due.swapAt(position, Int(random.next() % UInt64(position + 1)))
            }
        }
        for message in due {
            guard let member = members[message.to], let node = member.node,
                  (partition[message.from] ?? 0) == (partition[message.to] ?? 0) else {
                reportSnapshotOutcome(message, delivered: false)
                continue
            }
            reportSnapshotOutcome(message, delivered: true)
            do {
                try node.step(message)
            } catch RaftError.stepPeerNotFound, RaftError.proposalDropped {
                // Stale traffic from removed members, and forwarded proposals that found no leader.
            }
        }
    }

    /// The transport tells the sender how a snapshot went, as etcd's does; without it the leader
    /// would wait for the snapshot forever.
    private func reportSnapshotOutcome(_ message: Message, delivered: Bool) {
        guard message.type == .snapshot, let sender = members[message.from]?.node else { return }
        if delivered { statistics.snapshotsSent += 1 }
        sender.reportSnapshot(to: message.to, status: delivered ? .finished : .failure)
    }

    private func partitionRandomly() {
        partition = [:]
        for id in memberIDs { partition[id] = Int(random.next() % 2) }
    }

    // MARK: Ready handling

    private func processReadies() throws {
        for member in liveMembers {
            guard let node = member.node, node.hasReady else { continue }
            try handleReady(of: member, node: node)
        }
    }

    /// Persist, send, apply, advance: the Ready contract. A crash may strike between the stages.
    private func handleReady(of member: SimulatedMember, node: RawNode) throws {
        let ready = node.ready()
        let crashPoint = faultsEnabled && chance(crashRate) ? Int(random.next() % 3) : -1
        // Half the time a leader sends its appends and heartbeats before its own write, as the Ready
        // contract allows; a crash may then lose the write after the messages left.
        var early: [Message] = []
        var late = ready.messages
        if ready.softState?.raftState ?? node.softState.raftState == .leader && chance(0.5) {
            early = ready.messages.filter { $0.type == .append || $0.type == .heartbeat || $0.type == .snapshot }
            late = ready.messages.filter { !($0.type == .append || $0.type == .heartbeat || $0.type == .snapshot) }
            send(early)
        }
        if crashPoint == 0 { return crash(member) }

        if let snapshot = ready.snapshot {
            try member.storage.applySnapshot(snapshot)
            try installSnapshot(snapshot, into: member)
        }
        var previousTerm: UInt64? = nil
        for entry in ready.entries {
            try checkLogMatching(entry, previousTerm: previousTerm, member: member)
            previousTerm = entry.term
        }
        member.storage.append(ready.entries)
        if let hardState = ready.hardState { member.storage.setHardState(hardState) }
        if crashPoint == 1 { return crash(member) }

        send(late)
        if crashPoint == 2 { return crash(member) }

        for entry in ready.committedEntries { try apply(entry, member: member, node: node) }
        for readState in ready.readStates { try checkRead(readState) }
        node.advance(ready)
    }

    private func apply(_ entry: Entry, member: SimulatedMember, node: RawNode) throws {
        guard entry.index == member.appliedIndex + 1 else {
            throw SimulationFailure(description: "member \(member.id) applied index \(entry.index) after \(member.appliedIndex)")
        }
        var payload: UInt64 = 0
        switch entry.type {
        case .normal:
            if !entry.data.isEmpty { payload = decodePayload(entry.data) }
        case .confChange:
            if let change = ConfChange(decoding: entry.data) {
                member.confState = node.applyConfChange(change)
                statistics.confChangesApplied += 1
            }
        }
        member.stateMachine.append(payload)
        let index = Int(entry.index) - 1
        let termBound = node.hardState.term
        if index < appliedOracle.count {
            let expected = appliedOracle[index]
            guard expected.payload == payload && expected.term == entry.term else {
                throw SimulationFailure(description: "state machine safety: member \(member.id) applied (term \(entry.term), \(payload)) at \(entry.index), others applied (term \(expected.term), \(expected.payload))")
            }
        } else {
            appliedOracle.append((entry.term, payload, termBound))
            if payload != 0 { statistics.committedProposals += 1 }
            try checkLeaderCompleteness(forNewlyAppliedIndex: entry.index)
        }
    }

    private func installSnapshot(_ snapshot: Snapshot, into member: SimulatedMember) throws {
        let restored = decodeStateMachine(snapshot.data)
        guard UInt64(restored.count) == snapshot.metadata.index else {
            throw SimulationFailure(description: "snapshot at \(snapshot.metadata.index) carries \(restored.count) entries")
        }
        for (offset, payload) in restored.enumerated() where offset < appliedOracle.count {
            guard appliedOracle[offset].payload == payload else {
                throw SimulationFailure(description: "state machine safety: snapshot for member \(member.id) differs at index \(offset + 1)")
            }
        }
        member.stateMachine = restored
        member.confState = snapshot.metadata.confState
    }

    private func compact(_ member: SimulatedMember) throws {
        let applied = member.appliedIndex
        let snapshotIndex = (try? member.storage.snapshot().metadata.index) ?? 0
        guard applied > snapshotIndex + 4 else { return }
        try member.storage.createSnapshot(index: applied, confState: member.confState,
                                          data: encodeStateMachine(member.stateMachine))
        // Keep a few entries so that slightly lagging followers still get appends.
        try member.storage.compact(through: applied - 2)
    }

    private func crash(_ member: SimulatedMember) {
        statistics.crashes += 1
        member.node = nil
        // The state machine is volatile: it restarts from the persisted snapshot, and Raft replays
        // the committed entries after it.
        let snapshot = (try? member.storage.snapshot()) ?? Snapshot()
        member.stateMachine = decodeStateMachine(snapshot.data)
        member.confState = snapshot.metadata.confState
        // Entries after the snapshot re-apply conf changes from the log; start from the snapshot's.
    }

    // MARK: Requests

    private func issueRead(on member: SimulatedMember) {
        let context = payloadBytes(nextReadContext)
        nextReadContext += 1
        pendingReads[context] = UInt64(appliedOracle.count)
        try? member.node!.readIndex(context: context)
    }

    private func checkRead(_ readState: ReadState) throws {
        guard let appliedAtRequest = pendingReads.removeValue(forKey: readState.requestContext) else { return }
        statistics.readsConfirmed += 1
        // Linearizability: the read must observe at least everything applied before it was issued.
        guard readState.index >= appliedAtRequest else {
            throw SimulationFailure(description: "read index \(readState.index) is behind index \(appliedAtRequest) applied before the read was issued")
        }
    }

    private func proposeMembershipChange() {
        guard let leader = pick(leaders) else { return }
        let conf = leader.confState
        let change: ConfChange
        switch random.next() % 4 {
        case 0 where conf.voters.count + conf.learners.count < 7:
            let id = nextMemberID
            nextMemberID += 1
            change = ConfChange(type: .addLearnerNode, nodeID: id)
            addPendingMember(id)
        case 1 where !conf.learners.isEmpty:
            change = ConfChange(type: .addNode, nodeID: pick(conf.learners)!)
        case 2 where conf.voters.count > 3:
            change = ConfChange(type: .removeNode, nodeID: pick(conf.voters)!)
        case 3 where !conf.learners.isEmpty:
            change = ConfChange(type: .removeNode, nodeID: pick(conf.learners)!)
        default:
            return
        }
        try? leader.node!.proposeConfChange(change)
    }

    /// Members to be added are created when proposed, started from the bootstrap configuration, and
    /// simply idle (they are not voters of their own configuration) until the leader reaches them.
    private func addPendingMember(_ id: UInt64) {
        let bootstrap = ConfState(voters: initialVoters)
        let member = SimulatedMember(id: id, confState: bootstrap)
        members[id] = member
        memberIDs.append(id)
        partition[id] = 0
        start(member)
    }


    // MARK: Invariants

    private func checkLogMatching(_ entry: Entry, previousTerm knownPreviousTerm: UInt64?, member: SimulatedMember) throws {
        let previousTerm: UInt64
        if let knownPreviousTerm {
            previousTerm = knownPreviousTerm
        } else if entry.index == 1 {
            previousTerm = 0
        } else if let term = try? member.storage.term(at: entry.index - 1) {
            previousTerm = term
        } else {
            return
        }
        let key = EntryKey(index: entry.index, term: entry.term)
        var content = entry.data
        content.append(entry.type.rawValue)
        if let existing = entryContent[key] {
            guard existing.payload == content && existing.previousTerm == previousTerm else {
                throw SimulationFailure(description: "log matching: member \(member.id) persisted a different entry at index \(entry.index) term \(entry.term)")
            }
        } else {
            entryContent[key] = (content, previousTerm)
        }
    }

    private func checkLeaders() throws {
        for leader in leaders {
            let term = leader.node!.hardState.term
            // Removed members stop: a node that applied its own removal is never a leader.
            if !leader.node!.raft.tracker.voters.contains(leader.id) {
                throw SimulationFailure(description: "member \(leader.id) leads term \(term) without being a voter")
            }
            if let existing = leaderOfTerm[term], existing != leader.id {
                throw SimulationFailure(description: "election safety: \(existing) and \(leader.id) are both leaders of term \(term)")
            }
            if leaderOfTerm[term] == nil { statistics.leaderChanges += 1 }
            leaderOfTerm[term] = leader.id
            let key = EntryKey(index: leader.id, term: term)
            if !checkedLeaders.contains(key) {
                checkedLeaders.insert(key)
                for index in appliedOracle.indices { try checkLeaderHolds(UInt64(index) + 1, leader: leader) }
            }
        }
    }

    private func checkLeaderCompleteness(forNewlyAppliedIndex index: UInt64) throws {
        for leader in leaders { try checkLeaderHolds(index, leader: leader) }
    }

    /// Leader completeness: a leader of a term after the one in which an entry was known committed
    /// holds that entry (or a snapshot covering it).
    private func checkLeaderHolds(_ index: UInt64, leader: SimulatedMember) throws {
        let committed = appliedOracle[Int(index) - 1]
        let raft = leader.node!.raft
        guard raft.term > committed.termBound else { return }
        if index < raft.log.firstIndex { return }
        let term = try? raft.log.term(at: index)
        guard index <= raft.log.lastIndex, term == committed.term else {
            throw SimulationFailure(description: "leader completeness: leader \(leader.id) of term \(raft.term) lacks entry \(index) (term \(committed.term)) committed by term \(committed.termBound)")
        }
    }
}

func payloadBytes(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

func decodePayload(_ bytes: [UInt8]) -> UInt64 {
    var value: UInt64 = 0
    for byte in bytes.prefix(8).reversed() { value = value << 8 | UInt64(byte) }
    return value
}

func encodeStateMachine(_ values: [UInt64]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 8)
    for value in values { bytes.append(contentsOf: payloadBytes(value)) }
    return bytes
}

func decodeStateMachine(_ bytes: [UInt8]) -> [UInt64] {
    stride(from: 0, to: bytes.count, by: 8).map { decodePayload(Array(bytes[$0..<$0 + 8])) }
}
