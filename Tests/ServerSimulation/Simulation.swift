import BTreeStore
import EtcdProto
import EtcdServer
import Foundation
import Linearizability
import Logging
import Raft
import Synchronization
import TestSupport
import WAL

/// The whole-server deterministic simulation: several members (`SimulatedMember`: the real
/// recovery, Raft driver, WAL, snapshots and apply) in one process, with a simulated network,
/// clock and disk, clients reading, writing and compare-and-setting a few registers and
/// appending to a few lists, and faults, all chosen from one seed. Then every register's history
/// must be linearizable, the lists must pass `ListAppendChecker`, and the members must agree on
/// the store.
///
/// Time moves in steps of a millisecond; at each step the network delivers what is due, clients
/// call, the nemesis strikes or heals, and every running member with work (or a tick due by its
/// own clock, which runs 10% fast or slow) runs one cycle of its loop. Disks lose what was not
/// synced when their member crashes (a power failure); a member can be restarted with a torn
/// write or a failing sync ahead. Members snapshot every 100 entries and keep 50 behind, so that
/// one that falls behind gets the leader's snapshot file over the simulated network. Nothing
/// here reads a real clock or spawns a thread, so a seed replays exactly, given
/// `SWIFT_DETERMINISTIC_HASHING=1` (`server-sim` sets it): without it dictionaries iterate in an
/// order that changes from run to run, even within one process.
package final class Simulation {
    package struct Options: Sendable {
        package var seed: UInt64
        package var members = 3
        /// Simulated seconds of client work (faults stop a second before); then faults heal and
        /// the cluster gets a few quiet seconds to converge before the final reads.
        package var seconds = 20
        package var clients = 6
        package var keys = 3
        /// The injected bug: reads are answered from the member's own store without a
        /// ReadIndex round (the server's failpoint `linearizableReadsSkipReadIndex`), so a member
        /// cut off from the leader serves stale values.
        package var staleReads = false
        /// Where the members' data directories go (a tmpfs, so fsyncs cost nothing).
        package var directory: String

        package init(seed: UInt64, directory: String) {
            self.seed = seed
            self.directory = directory
        }
    }

    package struct Result: Sendable {
        package var seed: UInt64
        package var operations: Int
        package var answered: Int
        package var faults: [String]
        package var results: [String: LinearizabilityResult]
        /// List-append transactions, and what `ListAppendChecker` found wrong with the lists.
        package var appends: Int
        package var listViolations: [String]
        /// Members disagreeing at the end, or a member that could not restart.
        package var violations: [String]
        /// A digest of everything that happened: two runs of one seed must give the same.
        package var trace: UInt64
        /// Snapshots the leader sent to members behind it, and how many they installed.
        package var snapshotsSent: Int
        /// The histories of the keys that failed, one operation per line.
        package var failedHistories: [String: String]

        package var passed: Bool {
            violations.isEmpty && listViolations.isEmpty && results.values.allSatisfy { $0 == .linearizable }
        }

        package var summary: String {
            let linearizable = results.values.filter { $0 == .linearizable }.count
            return "seed \(seed): \(operations) operations (\(answered) answered), \(results.count) registers "
                + "(\(linearizable) linearizable), \(appends) list appends (\(listViolations.count) violations), "
                + "\(faults.count) faults, \(snapshotsSent) snapshots sent, \(violations.count) other violations, "
                + "trace \(String(trace, radix: 16))"
        }
    }

    // MARK: State

    private let options: Options
    private var random: SeededGenerator
    /// Simulated milliseconds since the start.
    private let clock = SimulatedClock()
    private var slots: [Slot] = []
    private let outbox = Outbox()
    private var network: [InFlight] = []
    private var nextSequence = 0
    private var clients: [Client] = []
    private let history = SimulatedHistory()
    private var faults: [String] = []
    private var violations: [String] = []
    private var trace = TraceDigest()
    /// Links that drop everything (from, to), by slot index.
    private var cutLinks: Set<[Int]> = []
    /// While set: the chance in 100 that a message is lost, and the extra delay (ms) of the rest.
    private var lossy: (percent: Int, delay: Int)?
    private var nextFaultAt = 1000
    private var healAt: Int?
    private var heal: (() -> Void)?
    private var snapshotsSent = 0

    private final class Slot {
        let name: String
        let dataDir: String
        /// How fast this member's clock runs, in parts per thousand (900-1100).
        let clockRate: Int
        var member: SimulatedMember?
        var restartAt: Int?
        var pausedUntil: Int?
        /// Faults the next start's disk will have.
        var nextFaults = WriteAheadLog.DiskFaults()

        init(name: String, dataDir: String, clockRate: Int) {
            self.name = name
            self.dataDir = dataDir
            self.clockRate = clockRate
        }
    }

    private struct InFlight {
        var deliverAt: Int
        var sequence: Int
        var from: Int
        var to: Int
        var message: Message
        /// A snapshot message's file, read when it was sent.
        var snapshot: Data?
    }

    private struct Client {
        var busyWith: Int?
        var member: Int
        var nextAt: Int
        var counter = 0
        var lastSeen: [String: String?] = [:]
    }

    package init(_ options: Options) {
        self.options = options
        random = SeededGenerator(seed: options.seed)
    }

    private func roll(_ bound: Int) -> Int { Int(random.next() % UInt64(max(1, bound))) }

    private var now: Int { clock.milliseconds }

    // MARK: Running

    package func run() throws -> Result {
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        let names = (1...options.members).map { "n\($0)" }
        for name in names {
            slots.append(Slot(name: name, dataDir: options.directory + "/\(name).etcd", clockRate: 900 + roll(201)))
        }
        for index in slots.indices { try start(index) }
        clients = (0..<options.clients).map { Client(member: $0 % options.members, nextAt: 200 + roll(200)) }

        let workEnds = options.seconds * 1000
        let faultsEnd = workEnds - 1000
        let end = workEnds + 8000
        var finalReadsIssued = false
        while now < end {
            deliverDue()
            nemesis(until: faultsEnd)
            restartDue()
            if now < workEnds { startClientCalls() }
            if now >= workEnds + 6000 && !finalReadsIssued {
                finalReadsIssued = true
                finalReads()
            }
            runMembers()
            clock.advance()
        }
        // Whatever is still outstanding never got an answer.
        for index in clients.indices where clients[index].busyWith != nil {
            history.abandon(clients[index].busyWith!)
        }
        checkConvergence()
        return result()
    }

    private func configuration(_ index: Int) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.name = slots[index].name
        configuration.dataDir = slots[index].dataDir
        configuration.initialCluster = slots.map { InitialClusterMember(name: $0.name, url: "http://\($0.name):2380") }
        configuration.initialClusterIsDefault = false
        configuration.initialAdvertisePeerURLs = ["http://\(slots[index].name):2380"]
        configuration.advertiseClientURLs = ["http://\(slots[index].name):2379"]
        configuration.initialClusterToken = "simulation"
        // Small, so that runs cut, release and send snapshots.
        configuration.snapshotCount = 100
        return configuration
    }

    private func start(_ index: Int) throws {
        let slot = slots[index]
        var faults = slot.nextFaults
        faults.unsyncedWritesLostOnKill = true
        slot.nextFaults = WriteAheadLog.DiskFaults()
        let clock = clock
        let rate = slot.clockRate
        let base = clock.base
        let transport = SimulatedTransport(from: index, outbox: outbox)
        let configuration = configuration(index)
        do {
            slot.member = try SimulatedMember(
                configuration: configuration, transport: transport,
                clock: { base + .microseconds(clock.milliseconds * rate) },
                wallClock: { Date(timeIntervalSince1970: 1_780_000_000 + Double(clock.milliseconds) / 1000) },
                walFaults: faults, randomSeed: random.next() | 1, logger: Self.logger)
        } catch {
            // A member that cannot start from its own data directory is a finding, unless a
            // fault meant to leave it unusable (none here does).
            violations.append("\(slot.name) could not restart at \(now) ms: \(error)")
            slot.member = nil
        }
        if let id = slot.member?.memberID { slotOfMember[id] = index }
        trace.add("start \(index) \(now)")
    }

    /// Drops the member as a power failure would: unsynced WAL writes are lost with it, and
    /// its callers never hear back.
    private func crash(_ index: Int, restartAfter delay: Int) {
        let slot = slots[index]
        guard slot.member != nil else { return }
        slot.member = nil
        slot.pausedUntil = nil
        slot.restartAt = now + delay
        for client in clients.indices where clients[client].member == index {
            if let operation = clients[client].busyWith {
                history.abandon(operation)
                clients[client].busyWith = nil
                clients[client].nextAt = now + 1
            }
        }
        for item in network where item.to == index && item.snapshot != nil {
            outbox.reportSnapshot(from: item.from, to: item.message.to, finished: false)
        }
        network.removeAll { $0.to == index }
        trace.add("crash \(index) \(now)")
    }

    private func restartDue() {
        for index in slots.indices {
            if let at = slots[index].restartAt, at <= now {
                slots[index].restartAt = nil
                try? start(index)
            }
        }
    }

    private func runMembers() {
        for index in slots.indices {
            let slot = slots[index]
            guard let member = slot.member else { continue }
            if let until = slot.pausedUntil {
                if until > now { continue }
                slot.pausedUntil = nil
            }
            let clockNow = clock.base + .microseconds(now * slot.clockRate)
            guard member.driver.hasPendingWork || clockNow >= member.driver.nextTickDue else { continue }
            let running = member.driver.cycle()
            send(outbox.take())
            // Only a failed WAL stops a simulated driver.
            if !running {
                faults.append("\(slot.name) crashed on its disk fault")
                crash(index, restartAfter: 100 + roll(900))
            }
        }
        // Answers come on the cycles: clients whose call finished may go again.
        for (operation, client) in history.takeFinished() where client < clients.count {
            if clients[client].busyWith == operation {
                clients[client].busyWith = nil
                clients[client].nextAt = now + roll(20)
            }
        }
    }

    // MARK: Network

    private func send(_ outgoing: [(from: Int, message: Message, snapshot: Data?)]) {
        for item in outgoing {
            guard let to = slotOfMember[item.message.to] else { continue }
            nextSequence += 1
            let delay = 1 + roll(3) + (lossy?.delay ?? 0)
            network.append(InFlight(deliverAt: now + delay, sequence: nextSequence, from: item.from, to: to,
                                    message: item.message, snapshot: item.snapshot))
        }
    }

    /// Member ids (fixed by name and token) to slots.
    private var slotOfMember: [UInt64: Int] = [:]

    private func deliverDue() {
        guard network.contains(where: { $0.deliverAt <= now }) else { return }
        let due = network.filter { $0.deliverAt <= now }.sorted { ($0.deliverAt, $0.sequence) < ($1.deliverAt, $1.sequence) }
        network.removeAll { $0.deliverAt <= now }
        for item in due {
            guard let member = slots[item.to].member, !cutLinks.contains([item.from, item.to]),
                  lossy.map({ roll(100) >= $0.percent }) ?? true else {
                // A lost snapshot fails its stream, and the sender hears of it (Raft then retries).
                if item.snapshot != nil { outbox.reportSnapshot(from: item.from, to: item.message.to, finished: false) }
                continue
            }
            trace.add("deliver \(item.from)>\(item.to) \(item.message.type) \(item.message.term) \(item.message.index) \(now)")
            if let bytes = item.snapshot {
                snapshotsSent += 1
                let path = member.snapshots.receivingPath(tag: UInt64(item.sequence))
                let from = item.from
                let to = item.message.to
                do {
                    try bytes.write(to: URL(fileURLWithPath: path))
                } catch {
                    outbox.reportSnapshot(from: from, to: to, finished: false)
                    continue
                }
                let outbox = outbox
                member.driver.snapshotArrived(item.message, path: path) { refusal in
                    outbox.reportSnapshot(from: from, to: to, finished: refusal == nil)
                }
            } else {
                member.driver.receive([item.message])
            }
        }
        for report in outbox.takeSnapshotReports() {
            slots[report.from].member?.driver.reportSnapshot(to: report.to, status: report.finished ? .finished : .failure)
        }
    }

    // MARK: Clients

    private func startClientCalls() {
        for index in clients.indices where clients[index].busyWith == nil && clients[index].nextAt <= now {
            // A client whose member is down tries another, as etcd's clients fail over.
            if slots[clients[index].member].member == nil || roll(20) == 0 {
                clients[index].member = roll(slots.count)
            }
            guard let member = slots[clients[index].member].member else {
                clients[index].nextAt = now + 50
                continue
            }
            clients[index].counter += 1
            let key = "k\(roll(options.keys))"
            let value = "c\(index)-\(clients[index].counter)"
            let history = history
            let operation: Int
            switch roll(5) {
            case 3:
                operation = appendToLists(member, client: index, value: "a\(index)-\(clients[index].counter)")
            case 4:
                operation = readLists(member, client: index)
            case 0:
                operation = history.invoke(key, client: index, .read, at: now)
                let clock = clock
                whenReadable(member) { view in
                    history.complete(operation, .read(view.rangeValue(key)), at: clock.milliseconds)
                } failed: {
                    history.drop(operation)
                }
            case 1:
                operation = history.invoke(key, client: index, .write(value), at: now)
                var put = Etcdserverpb_PutRequest()
                put.key = Data(key.utf8)
                put.value = Data(value.utf8)
                let clock = clock
                member.driver.propose(.put(put)) { result in
                    if case .put = result { history.complete(operation, .written, at: clock.milliseconds) } else {
                        history.fail(operation)
                    }
                }
            default:
                let expected = clients[index].lastSeen[key] ?? nil
                operation = history.invoke(key, client: index, .compareAndSet(expected: expected, new: value), at: now)
                var compare = Etcdserverpb_Compare()
                compare.key = Data(key.utf8)
                if let expected {
                    compare.target = .value
                    compare.value = Data(expected.utf8)
                } else {
                    compare.target = .version
                    compare.version = 0
                }
                compare.result = .equal
                var put = Etcdserverpb_PutRequest()
                put.key = Data(key.utf8)
                put.value = Data(value.utf8)
                var txn = Etcdserverpb_TxnRequest()
                txn.compare = [compare]
                var request = Etcdserverpb_RequestOp()
                request.requestPut = put
                txn.success = [request]
                let clock = clock
                member.driver.propose(.txn(txn)) { result in
                    if case .txn(let response) = result {
                        history.complete(operation, .compareAndSet(succeeded: response.succeeded), at: clock.milliseconds)
                    } else {
                        history.fail(operation)
                    }
                }
            }
            clients[index].busyWith = operation
            trace.add("call \(index) \(operation) \(key) \(now)")
        }
        // Reads update what each client last saw, for its next compare-and-set.
        for (client, key, seen) in history.takeReads() where client < clients.count {
            clients[client].lastSeen[key] = .some(seen)
        }
    }

    /// Appends `value` to one or two lists at once: a Txn that puts each longer list if no list
    /// changed since this member's view (each key's mod_revision), as Jepsen's etcd tests do.
    private func appendToLists(_ member: SimulatedMember, client: Int, value: String) -> Int {
        var keys: [String] = []
        let count = 1 + roll(2)
        while keys.count < count {
            let key = Self.listKeys[roll(Self.listKeys.count)]
            if !keys.contains(key) { keys.append(key) }
        }
        keys.sort()
        let view = member.store.readView
        var txn = Etcdserverpb_TxnRequest()
        for key in keys {
            let current = try? view.get(Array(key.utf8))
            var compare = Etcdserverpb_Compare()
            compare.key = Data(key.utf8)
            compare.target = .mod
            compare.modRevision = current?.modRevision ?? 0
            compare.result = .equal
            txn.compare.append(compare)
            var put = Etcdserverpb_PutRequest()
            put.key = Data(key.utf8)
            put.value = Data(((current.map { String(decoding: $0.value, as: UTF8.self) + "," } ?? "") + value).utf8)
            var request = Etcdserverpb_RequestOp()
            request.requestPut = put
            txn.success.append(request)
        }
        let history = history
        let clock = clock
        let operation = history.invokeAppend(keys: keys, value: value, client: client, at: now)
        member.driver.propose(.txn(txn)) { result in
            if case .txn(let response) = result {
                history.completeAppend(operation, succeeded: response.succeeded, at: clock.milliseconds)
            } else {
                history.fail(operation)
            }
        }
        return operation
    }

    /// Reads every list at once (one view of the store), after a ReadIndex.
    @discardableResult
    private func readLists(_ member: SimulatedMember, client: Int) -> Int {
        let history = history
        let clock = clock
        let operation = history.invokeListRead(client: client, at: now)
        whenReadable(member) { view in
            var lists: [String: [String]] = [:]
            for key in Self.listKeys {
                lists[key] = view.rangeValue(key).map { $0.split(separator: ",").map(String.init) } ?? []
            }
            history.completeListRead(operation, lists, at: clock.milliseconds)
        } failed: {
            history.drop(operation)
        }
        return operation
    }

    /// Runs `read` on the member's store once a ReadIndex round allows it (at once with the
    /// injected bug), or `failed` if none can. The callback holds the driver weakly: it waits
    /// inside the driver, and a crashed member's pending reads must not keep it alive.
    private func whenReadable(_ member: SimulatedMember, read: @escaping @Sendable (ReadView) -> Void,
                              failed: @escaping @Sendable () -> Void) {
        if options.staleReads { return read(member.store.readView) }
        member.driver.linearizableBarrier { [weak driver = member.driver] error in
            guard error == nil, let driver else { return failed() }
            read(driver.applier.store.readView)
        }
    }

    private static let listKeys = ["l0", "l1", "l2"]

    /// After the quiet seconds: a linearizable read of every key on every member, checked with
    /// the rest (acknowledged writes must be there).
    private func finalReads() {
        for index in slots.indices {
            guard let member = slots[index].member else { continue }
            readLists(member, client: 1000 + index)
            for key in (0..<options.keys).map({ "k\($0)" }) {
                let history = history
                let clock = clock
                let operation = history.invoke(key, client: 1000 + index, .read, at: now)
                whenReadable(member) { view in
                    history.complete(operation, .read(view.rangeValue(key)), at: clock.milliseconds)
                } failed: {
                    history.drop(operation)
                }
            }
        }
    }

    // MARK: Faults

    /// One fault at a time, every 0.5 to 2 s, each healed after 0.3 to 2.5 s.
    private func nemesis(until end: Int) {
        if let at = healAt, at <= now {
            heal?()
            heal = nil
            healAt = nil
            nextFaultAt = now + 500 + roll(1500)
        }
        guard healAt == nil, now >= nextFaultAt, now < end else { return }
        let victim = roll(slots.count)
        let name = slots[victim].name
        let hold = 300 + roll(2200)
        healAt = now + hold
        switch roll(10) {
        case 0, 1:
            faults.append("kill \(name)")
            crash(victim, restartAfter: hold)
        case 2:
            faults.append("kill all")
            for index in slots.indices { crash(index, restartAfter: hold + roll(300)) }
        case 3:
            faults.append("pause \(name)")
            slots[victim].pausedUntil = now + hold
        case 4, 5:
            faults.append("isolate \(name)")
            for other in slots.indices where other != victim {
                cutLinks.insert([victim, other])
                cutLinks.insert([other, victim])
            }
            heal = { [unowned self] in cutLinks = [] }
        case 6:
            let other = (victim + 1 + roll(slots.count - 1)) % slots.count
            faults.append("cut \(name)->\(slots[other].name) one way")
            cutLinks.insert([victim, other])
            heal = { [unowned self] in cutLinks = [] }
        case 7:
            let percent = 10 + roll(40), delay = roll(50)
            faults.append("lossy network \(percent)% +\(delay)ms")
            lossy = (percent, delay)
            heal = { [unowned self] in lossy = nil }
        case 8:
            let write = 3 + roll(60)
            faults.append("torn WAL write \(write) on \(name)")
            slots[victim].nextFaults.tornWrite = write
            crash(victim, restartAfter: 50)
        default:
            let sync = 3 + roll(60)
            faults.append("failed fsync \(sync) on \(name)")
            slots[victim].nextFaults.failSync = sync
            crash(victim, restartAfter: 50)
        }
        trace.add("fault \(faults.last!) \(now)")
    }

    // MARK: Checks

    /// Every member, after the quiet seconds, must have applied the same revision with the same
    /// hash.
    private func checkConvergence() {
        var states: [String: (revision: Int64, hash: UInt32)] = [:]
        for slot in slots {
            guard let member = slot.member else {
                violations.append("\(slot.name) is not running at the end")
                continue
            }
            let view = member.store.readView
            states[slot.name] = (view.revision, view.hash())
        }
        if Set(states.values.map { "\($0.revision):\($0.hash)" }).count > 1 {
            violations.append("members disagree at the end: \(states.sorted { $0.key < $1.key }.map { "\($0.key) revision \($0.value.revision) hash \($0.value.hash)" })")
        }
    }

    private func result() -> Result {
        let operations = history.all
        var results: [String: LinearizabilityResult] = [:]
        var failed: [String: String] = [:]
        for (key, perKey) in Dictionary(grouping: operations, by: \.key) {
            let checked = perKey.map(\.operation)
            let result = LinearizabilityChecker.check(RegisterModel.self, checked, maximumSteps: 5_000_000)
            results[key] = result
            if result != .linearizable {
                failed[key] = checked.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "\n")
            }
        }
        for operation in operations { trace.add("\(operation.operation)") }
        let lists = history.lists
        for append in lists.appends { trace.add("\(append)") }
        let listViolations = ListAppendChecker.check(appends: lists.appends, reads: lists.reads)
        return Result(seed: options.seed, operations: operations.count + lists.appends.count + lists.reads.count,
                      answered: operations.filter { $0.operation.output != nil }.count
                        + lists.appends.filter { $0.succeeded != nil }.count + lists.reads.count,
                      faults: faults, results: results, appends: lists.appends.count,
                      listViolations: listViolations, violations: violations, trace: trace.value,
                      snapshotsSent: snapshotsSent, failedHistories: failed)
    }

    /// A fault's kind, such as "kill all" or "torn WAL write", for tallies.
    package static func kind(of fault: String) -> String {
        ["kill all", "kill", "pause", "isolate", "cut", "lossy network", "torn WAL write", "failed fsync"]
            .first { fault.hasPrefix($0) } ?? (fault.hasSuffix("crashed on its disk fault") ? "crash on a disk fault" : "other")
    }

    private static let logger = Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() }
}

// MARK: - Pieces shared with the members' callbacks

/// Simulated milliseconds, readable from the members' clock closures.
final class SimulatedClock: Sendable {
    let base = ContinuousClock.now
    private let elapsed = Atomic<Int>(0)

    var milliseconds: Int { elapsed.load(ordering: .relaxed) }

    func advance() { elapsed.add(1, ordering: .relaxed) }
}

/// What members send during a cycle, collected for the simulated network.
final class Outbox: Sendable {
    private let messages = Mutex<[(from: Int, message: Message, snapshot: Data?)]>([])
    private let snapshotReports = Mutex<[(from: Int, to: UInt64, finished: Bool)]>([])

    func add(from: Int, _ message: Message, snapshot: Data?) {
        messages.withLock { $0.append((from, message, snapshot)) }
    }

    func take() -> [(from: Int, message: Message, snapshot: Data?)] {
        messages.withLock { messages in
            defer { messages = [] }
            return messages
        }
    }

    func reportSnapshot(from: Int, to: UInt64, finished: Bool) {
        snapshotReports.withLock { $0.append((from, to, finished)) }
    }

    func takeSnapshotReports() -> [(from: Int, to: UInt64, finished: Bool)] {
        snapshotReports.withLock { reports in
            defer { reports = [] }
            return reports
        }
    }
}

/// A member's side of the simulated network.
final class SimulatedTransport: RaftMessageTransport {
    private let from: Int
    private let outbox: Outbox

    init(from: Int, outbox: Outbox) {
        self.from = from
        self.outbox = outbox
    }

    func send(_ messages: [Message], snapshotPath: (Message) -> String?) {
        for message in messages {
            if message.type == .snapshot {
                guard let path = snapshotPath(message), let bytes = FileManager.default.contents(atPath: path) else { continue }
                outbox.add(from: from, message, snapshot: bytes)
            } else {
                outbox.add(from: from, message, snapshot: nil)
            }
        }
    }

    func updatePeers(_ members: [ClusterMember]) {}
}

/// FNV-1a over the events of a run.
struct TraceDigest {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ event: String) {
        for byte in event.utf8 {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
    }
}

/// The operations of a run (registers and list appends), recorded as the members' callbacks
/// answer them. Every call has an id, in the order the calls were made.
final class SimulatedHistory: Sendable {
    typealias Operation = RecordedOperation<RegisterModel.Input, RegisterModel.Output>

    private struct State {
        var nextID = 0
        var client: [Int: Int] = [:]
        var registers: [Int: (key: String, operation: Operation)] = [:]
        /// Register reads whose barrier failed: they say nothing and are left out.
        var dropped: Set<Int> = []
        var appends: [Int: ListAppend] = [:]
        var listReadCalls: [Int: UInt64] = [:]
        var listReads: [(id: Int, read: ListRead)] = []
        var finished: [(operation: Int, client: Int)] = []
        var reads: [(client: Int, key: String, seen: String?)] = []

        mutating func newID(client: Int) -> Int {
            nextID += 1
            self.client[nextID] = client
            return nextID
        }

        mutating func finish(_ id: Int) {
            finished.append((id, client[id]!))
        }
    }

    private let state = Mutex(State())

    /// Times are doubled and a return placed after the calls of its millisecond, so that an
    /// operation only precedes those called after it returned.
    private static func call(_ time: Int) -> UInt64 { UInt64(time) * 2 }
    private static func answer(_ time: Int) -> UInt64 { UInt64(time) * 2 + 1 }

    func invoke(_ key: String, client: Int, _ input: RegisterModel.Input, at time: Int) -> Int {
        state.withLock { state in
            let id = state.newID(client: client)
            state.registers[id] = (key, Operation(client: client, input: input, output: nil, invoked: Self.call(time), returned: nil))
            return id
        }
    }

    func complete(_ id: Int, _ output: RegisterModel.Output, at time: Int) {
        state.withLock { state in
            state.registers[id]!.operation.output = output
            state.registers[id]!.operation.returned = Self.answer(time)
            state.finish(id)
            if case .read(let seen) = output { state.reads.append((state.client[id]!, state.registers[id]!.key, seen)) }
        }
    }

    /// A write or compare-and-set failed: it may still take effect, so its outcome is unknown.
    func fail(_ id: Int) {
        state.withLock { $0.finish(id) }
    }

    /// A read failed: it is left out.
    func drop(_ id: Int) {
        state.withLock { state in
            state.dropped.insert(id)
            state.listReadCalls[id] = nil
            state.finish(id)
        }
    }

    /// The member died with the call: a read is left out, a write's outcome is unknown.
    func abandon(_ id: Int) {
        state.withLock { state in
            if let register = state.registers[id], case .read = register.operation.input { state.dropped.insert(id) }
            state.listReadCalls[id] = nil
        }
    }

    func invokeAppend(keys: [String], value: String, client: Int, at time: Int) -> Int {
        state.withLock { state in
            let id = state.newID(client: client)
            state.appends[id] = ListAppend(keys: keys, value: value, succeeded: nil, invoked: Self.call(time), returned: nil)
            return id
        }
    }

    /// The transaction answered: committed, or refused by its guard. (A failure leaves it unknown:
    /// `fail`.)
    func completeAppend(_ id: Int, succeeded: Bool, at time: Int) {
        state.withLock { state in
            state.appends[id]!.succeeded = succeeded
            state.appends[id]!.returned = Self.answer(time)
            state.finish(id)
        }
    }

    func invokeListRead(client: Int, at time: Int) -> Int {
        state.withLock { state in
            let id = state.newID(client: client)
            state.listReadCalls[id] = Self.call(time)
            return id
        }
    }

    func completeListRead(_ id: Int, _ lists: [String: [String]], at time: Int) {
        state.withLock { state in
            guard let invoked = state.listReadCalls.removeValue(forKey: id) else { return }
            state.listReads.append((id, ListRead(lists: lists, invoked: invoked, returned: Self.answer(time))))
            state.finish(id)
        }
    }

    func takeFinished() -> [(operation: Int, client: Int)] {
        state.withLock { state in
            defer { state.finished = [] }
            return state.finished
        }
    }

    func takeReads() -> [(client: Int, key: String, seen: String?)] {
        state.withLock { state in
            defer { state.reads = [] }
            return state.reads
        }
    }

    /// The register operations in call order, failed reads left out.
    var all: [(key: String, operation: Operation)] {
        state.withLock { state in
            state.registers.keys.sorted().filter { !state.dropped.contains($0) }.map { state.registers[$0]! }
        }
    }

    /// The append transactions in call order, and the answered list reads.
    var lists: (appends: [ListAppend], reads: [ListRead]) {
        state.withLock { state in
            (state.appends.keys.sorted().map { state.appends[$0]! }, state.listReads.sorted { $0.id < $1.id }.map(\.read))
        }
    }
}

extension ReadView {
    /// The value of `key` now, as a string.
    fileprivate func rangeValue(_ key: String) -> String? {
        guard let response = try? range(RangeRequest(key: Array(key.utf8))) else { return nil }
        return response.kvs.first.map { String(decoding: $0.value, as: UTF8.self) }
    }
}
