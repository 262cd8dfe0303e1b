import EtcdClient
import Foundation
import Linearizability
import Synchronization
import TestSupport

/// The register workload of the fault harness, shared by the bounded runs in the tests and by
/// `fault-run`, the command for long runs: clients read, write and compare-and-set registers
/// (keys) while a `Nemesis` strikes, three watchers record every event, and afterwards each key's
/// history is checked for linearizability, the watchers against each other and the acknowledged
/// writes, and the members' hashes against each other.
package enum RegisterHarness {
    /// How many faults of each kind, such as "kill 3, pause 2".
    package static func tally(_ faults: [String]) -> String {
        let kinds = ["kill all", "kill", "pause", "walSyncFails", "walTornWrite", "snapshotCrashBeforeRename",
                     "WAL bit flip", "snapshot bit flip", "membership change", "repair", "isolate", "cut", "throttle"]
        var counts: [String: Int] = [:]
        for fault in faults {
            counts[kinds.first { fault.hasPrefix($0) } ?? "other", default: 0] += 1
        }
        return counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    /// A line on standard output at once, even when it goes to a file: a long run's progress
    /// must show as it happens.
    package static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// One paragraph on a run: operations, checks and faults.
    package static func summary(_ run: Run, _ label: String, seed: UInt64) -> String {
        let linearizable = run.results.values.filter { $0 == .linearizable }.count
        return """
            \(label): \(run.operations) operations (\(run.answered) answered), \(run.results.count) key histories checked \
            (\(linearizable) linearizable), \(run.listOperations) of the operations on lists (\(run.listAppends) appends \
            committed, \(run.listViolations.count) list violations), \(run.watchEvents) watch events checked, seed \(seed), \
            \(run.faults.count) faults (\(tally(run.faults))): \(run.faults.suffix(40).joined(separator: ", "))
            """
    }

    /// What a run did and what its checks found.
    package struct Run {
        /// Register and list operations, all together.
        package var operations: Int
        package var answered: Int
        package var faults: [String]
        package var results: [String: LinearizabilityResult]
        /// Events the watchers received, all together.
        package var watchEvents: Int
        /// What `WatchGuarantees` found wrong with them.
        package var watchViolations: [String]
        /// Members disagreeing on the store's hash at the last revision, or a fault's own finding
        /// (a member starting on a damaged WAL).
        package var stateViolations: [String]
        /// List appends and reads, and the appends that committed.
        package var listOperations: Int
        package var listAppends: Int
        /// What `ListAppendChecker` found wrong with the lists.
        package var listViolations: [String]
    }

    /// `clients` clients on half as many keys for `seconds` while `faults` happen (and, for a kind
    /// whose faults come from a deck, until each was dealt once); each key's history checked (and
    /// written to the directory when it is not linearizable). Beside them a quarter as many
    /// (at least two) append to lists and read them (`ListAppendWorkload`). Every 20 s the clients
    /// move on to new keys and lists, so that a long run's histories stay short enough to check.
    /// Clients know every member and fail over, or with `pinnedClients` each knows only one.
    package static func run(executable: String, seconds: Int, faults kind: Nemesis.Kind, directory: TemporaryDirectory,
                            clients clientCount: Int, seed: UInt64,
                            environment: [String: String] = [:], extraArguments: [String] = [],
                            pinnedClients: Bool = false, lab: NetworkLab? = nil) async throws -> Run {
        let size = lab?.size ?? 3
        let cluster = try await EtcdCluster.start(in: directory, size: size, executable: executable,
                                                  extraArguments: extraArguments, environment: environment, lab: lab)
        let history = History()
        let deadline = ContinuousClock.now + .seconds(seconds)
        let keys = RotatingKeys(count: max(1, clientCount / 2), lifetime: .seconds(20))
        // Each client starts on another member, so that every member serves some of the calls;
        // pinned clients stay on the followers.
        var nemesis = try Nemesis(kind: kind, cluster: cluster, lab: lab, directory: directory, executable: executable,
                                  extraArguments: extraArguments, environment: environment, seed: seed)
        var members = Array(cluster.members.indices)
        if pinnedClients, let leader = await Self.leader(of: cluster, asking: nemesis.observer) {
            members.removeAll { $0 == leader }
        }
        let clients = try (0..<clientCount).map {
            try Self.client(cluster, startingAt: members[$0 % members.count], only: pinnedClients)
        }
        let listHistory = ListHistory()
        let listClients = try (0..<max(2, clientCount / 4)).map {
            try Self.client(cluster, startingAt: members[($0 + 1) % members.count], only: pinnedClients)
        }
        // Three watchers of every register from the first revision, each starting on another member.
        let watchLogs = (0..<3).map { _ in WatchLog() }
        let watchClients = try (0..<3).map { try Self.client(cluster, startingAt: $0 % size) }
        let watchers = zip(watchClients, watchLogs).map { client, log in Task { await Self.watch(client: client, into: log) } }
        let workers = Task {
            await withTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask { await Self.work(client: client, index: index, seed: seed, keys: keys, history: history) }
                }
                for (index, client) in listClients.enumerated() {
                    group.addTask {
                        await ListAppendWorkload.work(client: client, index: index, seed: seed, keys: keys, history: listHistory,
                                                      acknowledging: history)
                    }
                }
            }
        }
        var lastReport = ContinuousClock.now
        // A cluster that answers nothing for a minute, with each fault healed before the next,
        // has not recovered: a finding, and the end of the run (its checks would pass vacuously).
        var unavailable: [String] = []
        var answered = (count: 0, since: ContinuousClock.now)
        while ContinuousClock.now < deadline - .seconds(3) || !nemesis.dealtEveryFault {
            try await nemesis.strike()
            if history.answeredCount != answered.count {
                answered = (history.answeredCount, .now)
            } else if answered.since.duration(to: .now) > .seconds(60) {
                unavailable.append("the cluster answered no call for 60 s after the faults \(nemesis.faults.suffix(5))")
                break
            }
            if ContinuousClock.now - lastReport > .seconds(60) {
                lastReport = .now
                say("fault run in progress: \(history.operations.count) operations, \(nemesis.faults.count) faults, "
                      + "\(seconds - Int((deadline - .now).components.seconds)) of \(seconds) s")
            }
        }
        keys.stop()
        await workers.value
        // Every fault is healed now: each watcher must catch up with the last write.
        let watchViolations = await Self.drain(watchers, logs: watchLogs, asking: nemesis.observer, history: history)
        // And every list is read once more: an append committed after its generation's last read
        // must be there too.
        let listsRead = await ListAppendWorkload.readEveryGeneration(asking: nemesis.observer, into: listHistory)
        let stateViolations = await unavailable + nemesis.violations
            + (listsRead ? [] : ["the lists could not be read after the run (lost appends not judged)"])
            + Self.compareHashes(of: nemesis.cluster, asking: nemesis.observer)
        await nemesis.observer.close()
        for client in clients + listClients + watchClients { await client.close() }
        await nemesis.cluster.stop()

        let operations = Self.withoutUnappliedWrites(history.operations, watched: watchLogs.first?.all ?? [],
                                                     watchesAreComplete: watchViolations.isEmpty)
        let results = await Self.checkEachKey(operations, writingFailuresTo: directory)
        let lists = listHistory.counts
        let listViolations = ListAppendWorkload.check(listHistory, readAfterRun: listsRead)
        if !listViolations.isEmpty {
            try? listHistory.generations.map { generation, appends, reads in
                "generation \(generation)\n" + (appends.map(\.description) + reads.map(\.description)).joined(separator: "\n")
            }.joined(separator: "\n\n").write(toFile: directory.appending("lists.txt"), atomically: true, encoding: .utf8)
        }
        return Run(operations: history.operations.count + lists.operations,
                   answered: operations.filter { $0.operation.output != nil }.count + lists.answered,
                   faults: nemesis.faults, results: results,
                   watchEvents: watchLogs.reduce(0) { $0 + $1.all.count }, watchViolations: watchViolations,
                   stateViolations: stateViolations, listOperations: lists.operations, listAppends: lists.appends,
                   listViolations: listViolations)
    }

    /// Each key's history checked on its own, on every core; a history that is not linearizable
    /// is written to the directory. Prints how long the checks took and the slowest key, since a
    /// long run's histories must stay short enough to check.
    static func checkEachKey(_ operations: Operations, writingFailuresTo directory: TemporaryDirectory) async
        -> [String: LinearizabilityResult] {
        let histories = Dictionary(grouping: operations, by: \.key).mapValues { $0.map(\.operation) }
        let started = ContinuousClock.now
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let checked = await withTaskGroup(of: [(key: String, result: LinearizabilityResult, time: Duration)].self) { group in
            let keys = histories.keys.sorted()
            for worker in 0..<workers {
                group.addTask {
                    stride(from: worker, to: keys.count, by: workers).map { index in
                        let key = keys[index]
                        let start = ContinuousClock.now
                        let result = LinearizabilityChecker.check(RegisterModel.self, histories[key]!, maximumSteps: 50_000_000)
                        return (key, result, start.duration(to: .now))
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        var results: [String: LinearizabilityResult] = [:]
        for (key, result, _) in checked {
            results[key] = result
            if result != .linearizable {
                try? histories[key]!.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "\n")
                    .write(toFile: directory.appending("history-\(key).txt"), atomically: true, encoding: .utf8)
            }
        }
        if let slowest = checked.max(by: { $0.time < $1.time }) {
            say("checked \(checked.count) key histories in \(started.duration(to: .now)) on \(workers) cores; slowest: "
                  + "\(slowest.key) (\(histories[slowest.key]!.count) operations, "
                  + "\(histories[slowest.key]!.filter { $0.output == nil }.count) unknown) in \(slowest.time)")
        }
        return results
    }

    typealias Operations = [(key: String, operation: RecordedOperation<RegisterModel.Input, RegisterModel.Output>)]

    /// The history without the writes whose outcome the client never learned and whose value no
    /// watcher saw: they never took effect (every value is unique, and the watchers, which agree
    /// with each other and with every acknowledged write, saw every write up to the last
    /// revision). As etcd's robustness tests do, because each such write may otherwise be placed
    /// anywhere after its call, and a run with many of them (a whole cluster killed at once)
    /// makes the search explode. Only when the watches are complete; otherwise unchanged.
    static func withoutUnappliedWrites(_ operations: Operations, watched: [WatchedEvent],
                                       watchesAreComplete: Bool) -> Operations {
        guard watchesAreComplete else { return operations }
        let applied = Set(watched.compactMap { event in event.value.map { event.key + "\u{0}" + $0 } })
        return operations.filter { key, operation in
            guard operation.output == nil else { return true }
            switch operation.input {
            case .read: return true
            case .write(let value), .compareAndSet(_, let value): return applied.contains(key + "\u{0}" + value)
            }
        }
    }

    /// Records every event on the registers and the lists (keys from "l" up to "s") from revision 1 until cancelled. The
    /// client re-creates the watch after a failure from the revision after the last one delivered.
    static func watch(client: EtcdClient, into log: WatchLog) async {
        do {
            for try await response in client.watch("l", .range(.until("s")), .startRevision(1)) {
                let events = response.events.map { event in
                    WatchedEvent(revision: event.kv.modRevision, key: String(decoding: event.kv.key, as: UTF8.self),
                                 value: event.type == .delete ? nil : String(decoding: event.kv.value, as: UTF8.self))
                }
                log.append(events)
            }
        } catch {
            // Cancelled at the end of the run; any other end shows up as a watcher left behind.
        }
    }

    /// Waits until every watcher has the revision of the last write (giving up once none has
    /// advanced for 30 s), stops them and
    /// checks what they received against each other and against the acknowledged writes.
    static func drain(_ watchers: [Task<Void, Never>], logs: [WatchLog], asking client: EtcdClient,
                      history: History) async -> [String] {
        let deadline = ContinuousClock.now + .seconds(30)
        var final: Int64?
        while final == nil && ContinuousClock.now < deadline {
            final = try? await client.get("r").header.revision
        }
        let reached = { logs.map(\.lastRevision) }
        // Watchers still catching up (a long run's backlog) get 30 s more each time they advance.
        var progress = reached()
        var stalledSince = ContinuousClock.now
        while let final, reached().contains(where: { $0 < final }) && ContinuousClock.now < stalledSince + .seconds(30) {
            try? await Task.sleep(for: .milliseconds(50))
            if reached() != progress {
                progress = reached()
                stalledSince = .now
            }
        }
        for watcher in watchers { watcher.cancel() }
        for watcher in watchers { await watcher.value }
        var violations = WatchGuarantees.check(watchers: logs.map(\.all),
                                               acknowledged: history.acknowledgedWrites)
        guard let final else { return violations + ["no revision could be read after the run"] }
        for (index, revision) in reached().enumerated() where revision < final {
            violations.append("watcher \(index) stopped at revision \(revision), before the last write at \(final)")
        }
        return violations
    }

    /// Every member's hash of the store at the revision the first member has applied (etcd's
    /// HashKV): members that applied the same history must agree. A member behind gets 10 s.
    static func compareHashes(of cluster: EtcdCluster, asking client: EtcdClient) async -> [String] {
        guard let revision = await Nemesis.retry({ try await client.status(endpoint: 0).header.revision }) else {
            return ["no member answered a status request after the run"]
        }
        var hashes: [String: UInt32] = [:]
        for index in cluster.members.indices {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if let response = try? await client.hashKV(endpoint: index, revision: revision) {
                    hashes[cluster.members[index].name] = response.hash
                    break
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        if Set(hashes.values).count > 1 {
            return ["members disagree on the store's hash at revision \(revision): \(hashes.sorted { $0.key < $1.key })"]
        }
        if hashes.count < cluster.members.count {
            return ["only \(hashes.keys.sorted()) answered HashKV at revision \(revision)"]
        }
        return []
    }

    /// The index of the member the others agree leads, if one answers in time; the view of member
    /// `excluding` (one cut off from the rest) is not asked.
    package static func leader(of cluster: EtcdCluster, asking client: EtcdClient, excluding: Int? = nil) async -> Int? {
        // One status per member: its own id, and whom it takes for the leader.
        var statuses: [(index: Int, member: UInt64, leader: UInt64)] = []
        for index in cluster.members.indices where index != excluding {
            if let status = try? await client.status(endpoint: index) {
                statuses.append((index, status.header.memberID, status.leader))
            }
        }
        guard let leader = statuses.first(where: { $0.leader != 0 })?.leader else { return nil }
        return statuses.first { $0.member == leader }?.index
    }

    package static func client(_ cluster: EtcdCluster, startingAt first: Int, only: Bool = false) throws -> EtcdClient {
        var configuration = EtcdClient.Configuration()
        configuration.requestTimeout = .seconds(2)
        configuration.dialTimeout = .milliseconds(500)
        let endpoints = cluster.members.map(\.clientEndpoint)
        let ordered = only ? [endpoints[first]] : Array(endpoints[first...] + endpoints[..<first])
        return try EtcdClient(endpoints: ordered, configuration: configuration)
    }

    /// One client's loop: a random operation on a random key, recorded with its outcome. A write
    /// or compare-and-set that fails in any way is recorded as unknown (it may have been applied);
    /// a failed read says nothing and is left out.
    static func work(client: EtcdClient, index: Int, seed: UInt64, keys: RotatingKeys, history: History) async {
        var random = SeededGenerator(seed: UInt64(index) &+ seed)
        var lastSeen: [String: String?] = [:]
        var counter = 0
        while !keys.isStopped {
            let key = keys.key(Int(random.next() % UInt64(keys.count)))
            counter += 1
            let value = "c\(index)-\(counter)"
            let invoked = history.now()
            switch random.next() % 3 {
            case 0:
                if let response = try? await client.get(key) {
                    let seen = response.kvs.first.map { String(decoding: $0.value, as: UTF8.self) }
                    lastSeen[key] = .some(seen)
                    history.record(key, client: index, .read, .read(seen), invoked: invoked, returned: history.now())
                }
            case 1:
                let response = try? await client.put(key, value)
                let output: RegisterModel.Output? = response != nil ? .written : nil
                history.record(key, client: index, .write(value), output, invoked: invoked, returned: output == nil ? nil : history.now())
                if let response { history.acknowledge(WatchedEvent(revision: response.header.revision, key: key, value: value)) }
            default:
                let expected = lastSeen[key] ?? nil
                let compare: TxnCompare = expected.map { .value(key, .equal, $0) } ?? .version(key, .equal, 0)
                let response = try? await client.txn(Txn(if: [compare], then: [.put(key, value)]))
                let output = response.map { RegisterModel.Output.compareAndSet(succeeded: $0.succeeded) }
                history.record(key, client: index, .compareAndSet(expected: expected, new: value), output,
                               invoked: invoked, returned: output == nil ? nil : history.now())
                if let response, response.succeeded {
                    history.acknowledge(WatchedEvent(revision: response.header.revision, key: key, value: value))
                }
            }
        }
    }
}

/// The registers the clients work on: `count` keys, replaced by new ones every `lifetime`; and
/// the signal that the run is over.
package final class RotatingKeys: Sendable {
    let count: Int
    private let lifetime: Duration
    private let start = ContinuousClock.now
    private let stopped = Atomic<Bool>(false)

    init(count: Int, lifetime: Duration) {
        self.count = count
        self.lifetime = lifetime
    }

    /// Register `index` of the current generation, such as "r1-0".
    func key(_ index: Int) -> String {
        "r\(index)-\(generation)"
    }

    /// How many times the keys have moved on.
    var generation: Int { Int(start.duration(to: .now) / lifetime) }

    func stop() { stopped.store(true, ordering: .relaxed) }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }
}

/// What one watcher received, in order.
package final class WatchLog: Sendable {
    private let events = Mutex<[WatchedEvent]>([])

    func append(_ new: [WatchedEvent]) {
        events.withLock { $0.append(contentsOf: new) }
    }

    var all: [WatchedEvent] { events.withLock { $0 } }

    var lastRevision: Int64 { events.withLock { $0.last?.revision ?? 0 } }
}

/// The operations of all clients, with times from one clock.
package final class History: Sendable {
    private let start = ContinuousClock.now
    private let entries = Mutex<[(key: String, operation: RecordedOperation<RegisterModel.Input, RegisterModel.Output>)]>([])
    private let acknowledged = Mutex<[WatchedEvent]>([])
    private let answered = Atomic<Int>(0)

    package func now() -> UInt64 { start.nanosecondsToNow() }

    func record(_ key: String, client: Int, _ input: RegisterModel.Input, _ output: RegisterModel.Output?,
                invoked: UInt64, returned: UInt64?) {
        entries.withLock {
            $0.append((key, RecordedOperation(client: client, input: input, output: output, invoked: invoked, returned: returned)))
        }
        if output != nil { answered.add(1, ordering: .relaxed) }
    }

    /// How many calls got an answer so far.
    var answeredCount: Int { answered.load(ordering: .relaxed) }

    var operations: [(key: String, operation: RecordedOperation<RegisterModel.Input, RegisterModel.Output>)] {
        entries.withLock { $0 }
    }

    /// Records a write the cluster acknowledged, with the revision it answered.
    package func acknowledge(_ write: WatchedEvent) {
        acknowledged.withLock { $0.append(write) }
    }

    /// The writes acknowledged so far.
    var acknowledgedWrites: [WatchedEvent] { acknowledged.withLock { $0 } }
}

extension ContinuousClock.Instant {
    /// Nanoseconds from this instant to now: the times of a recorded history.
    package func nanosecondsToNow() -> UInt64 {
        let elapsed = duration(to: .now)
        return UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
    }
}
