import Foundation
import Linearizability
import ServerSimulation
import Testing
import TestSupport

/// The whole-server deterministic simulation, bounded for CI: a few seeds of three members with
/// crashes (one, all), pauses, partitions, one-way cuts, lossy links, torn WAL writes and failed
/// fsyncs, every history checked. `server-sim --seeds 1000` runs many more; a failing seed here
/// prints the command that replays it.
@Suite struct WholeServerSimulationTests {
    /// `SIM_SEEDS` runs more seeds (from `SIM_FIRST_SEED`, 1 by default).
    static let seeds = Int(ProcessInfo.processInfo.environment["SIM_SEEDS"] ?? "") ?? 6
    static let firstSeed = UInt64(ProcessInfo.processInfo.environment["SIM_FIRST_SEED"] ?? "") ?? 1

    static func run(seed: UInt64, seconds: Int = 15, staleReads: Bool = false) throws -> Simulation.Result {
        let root = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        var options = Simulation.Options(seed: seed, directory: "\(root)/simulation-test-\(getpid())-\(seed)-\(staleReads)")
        options.seconds = seconds
        options.staleReads = staleReads
        defer { try? FileManager.default.removeItem(atPath: options.directory) }
        return try Simulation(options).run()
    }

    @Test func seedsStayLinearizableThroughCrashesPartitionsAndDiskFaults() throws {
        var kinds: Set<String> = []
        var snapshotsSent = 0
        for seed in Self.firstSeed..<(Self.firstSeed + UInt64(Self.seeds)) {
            let result = try Self.run(seed: seed)
            print(result.summary)
            #expect(result.answered > 100, "seed \(seed): too few answers to say anything")
            #expect(result.passed, """
                seed \(seed) failed (replay: server-sim --first \(seed) --seeds 1 --seconds 15): \
                \(result.violations) \(result.results.filter { $0.value != .linearizable }) faults \(result.faults)
                """)
            kinds.formUnion(result.faults.map(Simulation.kind(of:)))
            snapshotsSent += result.snapshotsSent
        }
        print("fault kinds dealt: \(kinds.sorted()), \(snapshotsSent) snapshots sent")
        #expect(snapshotsSent > 0, "no member fell far enough behind to need a snapshot")
        #expect(kinds.count >= 5, "the seeds dealt too few kinds of fault: \(kinds.sorted())")
    }

    /// A seed is a replay: `server-sim` run twice on one seed prints the same trace of
    /// deliveries, calls, faults and answers (it sets `SWIFT_DETERMINISTIC_HASHING`, without which
    /// dictionaries iterate in an order that differs from run to run, even in one process).
    @Test func aSeedReplaysExactly() throws {
        let command = try builtExecutable("server-sim")
        func trace(_ seed: Int) throws -> String {
            let run = try runProcess(command, ["--first", "\(seed)", "--seeds", "1", "--seconds", "8"])
            #expect(run.exitCode == 0, "\(run)")
            return run.stdout.split(separator: "\n").first { $0.hasPrefix("seed ") }.map(String.init) ?? ""
        }
        let first = try trace(77)
        #expect(first.contains("trace "), "\(first)")
        #expect(try trace(77) == first)
        #expect(try trace(78) != first)
    }

    /// The simulation must notice a real bug: members that answer reads without ReadIndex serve
    /// stale values while cut off, and both checkers notice (a register's history is not
    /// linearizable, a list read misses an append committed before it began).
    @Test func theCheckerCatchesReadsThatSkipReadIndex() throws {
        var caught: [UInt64] = []
        for seed in UInt64(1)...3 where caught.isEmpty {
            let result = try Self.run(seed: seed, staleReads: true)
            let registers = result.results.values.contains { if case .violation = $0 { true } else { false } }
            if registers && !result.listViolations.isEmpty { caught.append(seed) }
        }
        #expect(!caught.isEmpty, "stale reads passed the register or the list checker for seeds 1 to 3")
    }
}
