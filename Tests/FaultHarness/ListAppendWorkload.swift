import EtcdClient
import Foundation
import Linearizability
import Synchronization
import TestSupport

/// The list-append workload of the fault harness, as Jepsen's etcd tests run it: clients append
/// unique values to one or two lists at once (a Txn guarded by each list's mod_revision, putting
/// the longer lists) and read all the lists at once (one range, one revision). Lists move on
/// with the registers' generations, so that a long run's lists stay short; each generation's
/// appends and reads are checked by `ListAppendChecker` on their own.
enum ListAppendWorkload {
    static let listsPerGeneration = 3

    /// The lists of a generation share the prefix "l<generation>-"; no other generation's do.
    static func prefix(_ generation: Int) -> String { "l\(generation)-" }

    /// One client's loop: a third of the time a read of every list, otherwise a read followed by an
    /// append to one or two lists guarded by what that read saw (the read is recorded too). A
    /// failed append is recorded as unknown; a failed read says nothing and is left out. A
    /// committed append's puts go to `acknowledging`, for the watchers' checks.
    static func work(client: EtcdClient, index: Int, seed: UInt64, keys: RotatingKeys, history: ListHistory,
                     acknowledging acknowledged: History) async {
        var random = SeededGenerator(seed: (UInt64(index) &+ seed) ^ 0x6C69_7374)
        var counter = 0
        while !keys.isStopped {
            let generation = keys.generation
            let prefix = Self.prefix(generation)
            let invoked = history.now()
            guard let response = try? await client.get(prefix, .prefix) else { continue }
            var lists: [String: (values: [String], modRevision: Int64)] = [:]
            for kv in response.kvs {
                let value = String(decoding: kv.value, as: UTF8.self)
                lists[String(decoding: kv.key, as: UTF8.self)] = (value.split(separator: ",").map(String.init), kv.modRevision)
            }
            history.read(generation, ListRead(lists: lists.mapValues(\.values), invoked: invoked, returned: history.now()))
            guard random.next() % 3 != 0 else { continue }

            var targets: [String] = []
            let count = 1 + Int(random.next() % 2)
            while targets.count < count {
                let key = prefix + String(random.next() % UInt64(listsPerGeneration))
                if !targets.contains(key) { targets.append(key) }
            }
            targets.sort()
            counter += 1
            let value = "a\(index)-\(counter)"
            let appended = targets.map { ((lists[$0]?.values ?? []) + [value]).joined(separator: ",") }
            let txn = Txn(if: targets.map { .modRevision($0, .equal, lists[$0]?.modRevision ?? 0) },
                          then: zip(targets, appended).map { .put($0, $1) })
            let appendInvoked = history.now()
            let answer = try? await client.txn(txn)
            history.append(generation, ListAppend(keys: targets, value: value, succeeded: answer?.succeeded,
                                                  invoked: appendInvoked, returned: answer == nil ? nil : history.now()))
            if let answer, answer.succeeded {
                for (key, list) in zip(targets, appended) {
                    acknowledged.acknowledge(WatchedEvent(revision: answer.header.revision, key: key, value: list))
                }
            }
        }
    }

    /// One read of every generation's lists at once, recorded as a read of each generation; when
    /// the faults have healed, so that it sees every append that committed. Retried for 30 s;
    /// false when no read succeeded.
    static func readEveryGeneration(asking client: EtcdClient, into history: ListHistory) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let invoked = history.now()
            guard let response = try? await client.get("l", .prefix) else { continue }
            let returned = history.now()
            var lists: [Int: [String: [String]]] = [:]
            for kv in response.kvs {
                let key = String(decoding: kv.key, as: UTF8.self)
                guard let generation = Int(key.dropFirst().prefix { $0 != "-" }) else { continue }
                lists[generation, default: [:]][key] = String(decoding: kv.value, as: UTF8.self)
                    .split(separator: ",").map(String.init)
            }
            for generation in history.generations.map(\.generation) {
                history.read(generation, ListRead(lists: lists[generation] ?? [:], invoked: invoked, returned: returned))
            }
            return true
        }
        return false
    }

    /// What `ListAppendChecker` found wrong with each generation's lists, each finding prefixed
    /// with its generation.
    /// Without the final read (`readAfterRun` false: the cluster did not answer), an append
    /// committed after its generation's last read cannot be told from a lost one, so lost appends
    /// are not judged then; the unavailability is a finding of its own.
    static func check(_ history: ListHistory, readAfterRun: Bool) -> [String] {
        history.generations.flatMap { generation, appends, reads in
            ListAppendChecker.check(appends: appends, reads: reads)
                .filter { readAfterRun || !$0.hasPrefix("lost:") }
                .map { "lists of generation \(generation): \($0)" }
        }
    }
}

/// The list-append operations of all clients by generation, with times from one clock.
final class ListHistory: Sendable {
    private let start = ContinuousClock.now
    private let state = Mutex<(appends: [Int: [ListAppend]], reads: [Int: [ListRead]])>(([:], [:]))

    func now() -> UInt64 { start.nanosecondsToNow() }

    func append(_ generation: Int, _ append: ListAppend) {
        state.withLock { $0.appends[generation, default: []].append(append) }
    }

    func read(_ generation: Int, _ read: ListRead) {
        state.withLock { $0.reads[generation, default: []].append(read) }
    }

    var generations: [(generation: Int, appends: [ListAppend], reads: [ListRead])] {
        state.withLock { state in
            Set(state.appends.keys).union(state.reads.keys).sorted().map {
                ($0, state.appends[$0] ?? [], state.reads[$0] ?? [])
            }
        }
    }

    /// Appends and reads recorded, and how many of them were answered.
    var counts: (operations: Int, answered: Int, appends: Int) {
        state.withLock { state in
            let appends = state.appends.values.joined()
            let reads = state.reads.values.reduce(0) { $0 + $1.count }
            return (appends.count + reads, appends.filter { $0.succeeded != nil }.count + reads,
                    appends.filter { $0.succeeded == true }.count)
        }
    }
}
