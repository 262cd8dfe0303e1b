import EtcdClient
import FaultHarness
import Foundation
import Linearizability
import Synchronization
import Testing
import TestSupport

/// Bounded runs of the fault harness: clients read, write and compare-and-set a few registers
/// (keys) on a three-member cluster while a `Nemesis` kills, pauses and replaces members (and, for
/// ours, cuts their power and damages their disks). Then each key's history must be linearizable,
/// the watchers must agree with each other and with every acknowledged write, and the members must
/// agree on the store's hash. Against Debian's etcd (the harness must pass there) and against ours.
/// `FAULT_SECONDS` lengthens a run, `FAULT_SEED` replays a fault schedule, `FAULT_CLIENTS` adds
/// clients and `FAULT_ETCD` names our server's binary (a release build for long runs).
@Suite(.serialized) struct RegisterUnderKillsTests {
    static let seconds = Int(ProcessInfo.processInfo.environment["FAULT_SECONDS"] ?? "") ?? 15
    /// Register clients; half as many keys at a time. More for a long run, to do more operations.
    static let clientCount = max(2, Int(ProcessInfo.processInfo.environment["FAULT_CLIENTS"] ?? "") ?? 6)
    static let seed = UInt64(ProcessInfo.processInfo.environment["FAULT_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)

    /// Our server: the one built with the tests, or the one `FAULT_ETCD` names (a release build
    /// for long runs).
    static func ours() throws -> String {
        try ProcessInfo.processInfo.environment["FAULT_ETCD"] ?? builtExecutable("etcd")
    }

    /// Snapshots every 500 entries, so that runs also cut, release and send snapshots.
    static let snapshotEvery = ["--snapshot-count", "500"]

    @Test(arguments: ["reference", "ours"])
    func registersStayLinearizableWhileMembersAreKilled(server: String) async throws {
        let executable = server == "ours" ? try Self.ours() : EtcdMember.referenceExecutable
        try await TemporaryDirectory.with(prefix: "fault-register-\(server)") { directory in
            let run = try await RegisterHarness.run(
                executable: executable, seconds: Self.seconds, faults: .killsAndPauses, directory: directory,
                clients: Self.clientCount, seed: Self.seed, extraArguments: Self.snapshotEvery)
            Self.expectClean(run, "fault run (\(server))", directory: directory)
        }
    }

    /// Our server with every kill a power failure (`walUnsyncedWritesLostOnKill`), and disk faults:
    /// failed fsyncs, torn WAL writes, a crash before a snapshot's rename, bit flips in the WAL
    /// and in snapshots, members replaced.
    @Test func registersStayLinearizableThroughPowerFailuresAndDiskFaults() async throws {
        let executable = try Self.ours()
        try await TemporaryDirectory.with(prefix: "fault-disk") { directory in
            let run = try await RegisterHarness.run(
                executable: executable, seconds: max(Self.seconds, 25), faults: .crashesAndDisks, directory: directory,
                clients: Self.clientCount, seed: Self.seed, environment: [Nemesis.failpointVariable: "walUnsyncedWritesLostOnKill"],
                extraArguments: Self.snapshotEvery)
            Self.expectClean(run, "disk-fault run", directory: directory)
        }
    }

    /// The harness must notice acknowledged writes lost to a power failure: our server with
    /// `--unsafe-no-fsync` (etcd's flag: the WAL is never synced) and every kill a power failure,
    /// the whole cluster killed at once again and again. The same run with fsync on passes.
    @Test func harnessCatchesWritesAcknowledgedBeforeFsync() async throws {
        let etcd = try builtExecutable("etcd")
        let powerFailures = [Nemesis.failpointVariable: "walUnsyncedWritesLostOnKill"]
        try await TemporaryDirectory.with(prefix: "fault-fsync-control") { directory in
            let control = try await RegisterHarness.run(
                executable: etcd, seconds: 16, faults: .powerFailures, directory: directory,
                clients: Self.clientCount, seed: Self.seed,
                                             environment: powerFailures)
            Self.expectClean(control, "control run (fsync on)", directory: directory)
        }
        try await TemporaryDirectory.with(prefix: "fault-no-fsync") { directory in
            let run = try await RegisterHarness.run(
                executable: etcd, seconds: 16, faults: .powerFailures, directory: directory,
                clients: Self.clientCount, seed: Self.seed,
                                         environment: powerFailures, extraArguments: ["--unsafe-no-fsync"])
            let nonLinearizable = run.results.filter { if case .violation = $0.value { true } else { false } }.keys.sorted()
            print("injected-bug run (--unsafe-no-fsync): \(run.operations) operations, violations on \(nonLinearizable), \(run.watchViolations.count) watch violations (\(run.watchViolations.prefix(2))), \(run.listViolations.count) list violations (\(run.listViolations.prefix(2))), \(run.stateViolations), faults: \(run.faults)")
            #expect(!nonLinearizable.isEmpty || !run.watchViolations.isEmpty || !run.listViolations.isEmpty,
                    "the checkers passed a cluster that lost acknowledged writes (seed \(Self.seed))")
        }
    }

    /// Records an issue for every check a run failed, and prints what it did.
    static func expectClean(_ run: RegisterHarness.Run, _ label: String, directory: TemporaryDirectory) {
        print(RegisterHarness.summary(run, label, seed: seed))
        #expect(run.answered > 20, "\(label): too few operations completed (\(run.answered) of \(run.operations)) to say anything")
        for (key, result) in run.results.sorted(by: { $0.key < $1.key }) where result != .linearizable {
            Issue.record("""
                \(label): key \(key) is not linearizable (\(result)); seed \(seed), faults \(run.faults); \
                history in \(directory.appending("history-\(key).txt"))
                """)
        }
        #expect(run.watchViolations.isEmpty, "\(label), seed \(seed): \(run.watchViolations.prefix(5))")
        #expect(run.stateViolations.isEmpty, "\(label), seed \(seed): \(run.stateViolations)")
        #expect(run.listAppends > 0, "\(label): no list append committed")
        #expect(run.listViolations.isEmpty, "\(label), seed \(seed): \(run.listViolations.prefix(5)); lists in \(directory.appending("lists.txt"))")
    }

    /// The harness must notice a real bug: our server with the failpoint that answers linearizable
    /// reads without a ReadIndex round (a follower answers from its own, possibly older, view).
    /// Followers are paused for longer than a request's deadline, and each client sticks to one
    /// member: a read sent to a paused follower after its previous call timed out is answered
    /// from the follower's old view once it resumes, although writes returned before the read was
    /// sent. Some key's history must then fail the check, and so must the lists.
    @Test func harnessCatchesReadsThatSkipReadIndex() async throws {
        let etcd = try builtExecutable("etcd")
        // The same scenario without the bug passes: what fails below is the bug, not the harness.
        try await TemporaryDirectory.with(prefix: "fault-control") { directory in
            let control = try await RegisterHarness.run(
                executable: etcd, seconds: 16, faults: .followerPauses, directory: directory,
                clients: Self.clientCount, seed: Self.seed,
                                             pinnedClients: true)
            print("control run: \(control.operations) operations, faults: \(control.faults)")
            #expect(control.results.values.allSatisfy { $0 == .linearizable }, "seed \(Self.seed): \(control.results)")
            #expect(control.listViolations.isEmpty, "seed \(Self.seed): \(control.listViolations.prefix(3))")
        }
        // A run may, by the timing of its pauses, give a stale read no chance; two rarely both do.
        // Both checkers must catch the bug: the registers' and the lists'.
        var caught: [String] = []
        var caughtOnLists: [String] = []
        for _ in 1...2 where caught.isEmpty || caughtOnLists.isEmpty {
            try await TemporaryDirectory.with(prefix: "fault-injected") { directory in
                let run = try await RegisterHarness.run(
                executable: etcd, seconds: 16, faults: .followerPauses, directory: directory,
                clients: Self.clientCount, seed: Self.seed,
                    environment: ["SWIFT_ETCD_FAILPOINTS": "linearizableReadsSkipReadIndex"], pinnedClients: true)
                caught += run.results.filter { if case .violation = $0.value { true } else { false } }.keys.sorted()
                caughtOnLists += run.listViolations
                print("injected-bug run: \(run.operations) operations, violations on \(caught), \(run.listViolations.count) list violations (\(run.listViolations.prefix(2))), faults: \(run.faults)")
            }
        }
        #expect(!caughtOnLists.isEmpty, "the list checker passed a server that skips ReadIndex (seed \(Self.seed))")
        #expect(!caught.isEmpty, "the register checker passed a server that skips ReadIndex (seed \(Self.seed))")
    }

}
