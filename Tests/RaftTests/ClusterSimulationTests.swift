import Foundation
import Synchronization
import Testing
@testable import Raft

#if canImport(Glibc)
import Glibc
#endif

/// Seeds in progress per worker, so that a crash (a failed precondition inside Raft) still prints a
/// repro line from the signal handler.
/// (Atomics are not copyable, so they cannot live in an array: one global per worker.)
private let seedInProgress0 = Atomic<UInt64>(0)
private let seedInProgress1 = Atomic<UInt64>(0)
private let seedInProgress2 = Atomic<UInt64>(0)
private let seedInProgress3 = Atomic<UInt64>(0)
private let seedInProgress4 = Atomic<UInt64>(0)
private let seedInProgress5 = Atomic<UInt64>(0)
private let seedInProgress6 = Atomic<UInt64>(0)
private let seedInProgress7 = Atomic<UInt64>(0)
private let simulationWorkers = 8

/// Stores `seed + 1` (0 means idle) for `worker`, or reads it when `seed` is nil.
@discardableResult
private func seedInProgress(_ worker: Int, store seed: UInt64? = nil) -> UInt64 {
    func access(_ slot: borrowing Atomic<UInt64>) -> UInt64 {
        if let seed { slot.store(seed, ordering: .relaxed) }
        return slot.load(ordering: .relaxed)
    }
    switch worker {
    case 0: return access(seedInProgress0)
    case 1: return access(seedInProgress1)
    case 2: return access(seedInProgress2)
    case 3: return access(seedInProgress3)
    case 4: return access(seedInProgress4)
    case 5: return access(seedInProgress5)
    case 6: return access(seedInProgress6)
    default: return access(seedInProgress7)
    }
}
private let crashReporterInstalled = Mutex(false)

/// Prints the seeds in progress when the process dies of a trap. Only async-signal-safe calls:
/// atomics and write(2) of a stack buffer.
private func installCrashReporter() {
    #if canImport(Glibc)
    crashReporterInstalled.withLock { installed in
        guard !installed else { return }
        installed = true
        let handler: @convention(c) (Int32) -> Void = { signalNumber in
            for worker in 0..<simulationWorkers {
                let seed = seedInProgress(worker)
                guard seed != 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 96)
                let prefix = Array("\ncrashed while simulating; repro: RAFT_SIM_SEED=".utf8)
                for (offset, byte) in prefix.enumerated() { buffer[offset] = byte }
                var digits = [UInt8](repeating: 0, count: 20)
                var value = seed - 1
                var count = 0
                repeat {
                    digits[count] = UInt8(48 + value % 10)
                    value /= 10
                    count += 1
                } while value > 0
                var position = prefix.count
                for digit in digits[0..<count].reversed() {
                    buffer[position] = digit
                    position += 1
                }
                buffer[position] = 10
                _ = buffer.withUnsafeBytes { write(2, $0.baseAddress, position + 1) }
            }
            signal(signalNumber, SIG_DFL)
            raise(signalNumber)
        }
        signal(SIGILL, handler)
        signal(SIGTRAP, handler)
    }
    #endif
}

/// Runs the seeded cluster simulation. `RAFT_SIM_SEEDS` sets how many seeds (default 2,000, split
/// over 3- and 5-member clusters); `RAFT_SIM_SEED` runs exactly one seed (both sizes), which is the
/// repro a failure prints.
@Suite struct ClusterSimulationTests {
    static let seedCount = Int(ProcessInfo.processInfo.environment["RAFT_SIM_SEEDS"] ?? "") ?? 2_000
    static let singleSeed = UInt64(ProcessInfo.processInfo.environment["RAFT_SIM_SEED"] ?? "")
    /// Faulty rounds per seed before healing (`RAFT_SIM_ROUNDS`); a round ticks, delivers and
    /// handles every Ready once.
    static let rounds = Int(ProcessInfo.processInfo.environment["RAFT_SIM_ROUNDS"] ?? "") ?? 200

    @Test(arguments: 0..<simulationWorkers)
    func seededSchedules(worker: Int) throws {
        installCrashReporter()
        let seeds: [UInt64]
        if let single = Self.singleSeed {
            seeds = worker == 0 ? [single] : []
        } else {
            seeds = stride(from: worker, to: Self.seedCount, by: simulationWorkers).map { UInt64($0) }
        }
        for seed in seeds {
            for memberCount in [3, 5] where Self.singleSeed != nil || Int(seed) % 2 == (memberCount == 3 ? 0 : 1) {
                seedInProgress(worker, store: seed + 1)
                let simulator = ClusterSimulator(seed: seed, memberCount: memberCount)
                do {
                    try simulator.run(rounds: Self.rounds, healingBound: 400)
                    if ProcessInfo.processInfo.environment["RAFT_SIM_VERBOSE"] != nil {
                        print("seed \(seed) members \(memberCount): \(simulator.statistics)")
                    }
                } catch {
                    Issue.record("seed \(seed), \(memberCount) members: \(error)\nrepro: RAFT_SIM_SEED=\(seed) RAFT_SIM_ROUNDS=\(Self.rounds) swift test --filter ClusterSimulationTests")
                }
            }
        }
        seedInProgress(worker, store: 0)
    }

    /// A seed replays identically (no hidden nondeterminism such as dictionary order or the clock),
    /// which is what makes the repro line useful.
    @Test func sameSeedReplaysIdentically() throws {
        let first = ClusterSimulator(seed: 42, memberCount: 5)
        try first.run(rounds: 250, healingBound: 400)
        let second = ClusterSimulator(seed: 42, memberCount: 5)
        try second.run(rounds: 250, healingBound: 400)
        #expect(first.members.mapValues(\.stateMachine) == second.members.mapValues(\.stateMachine))
        #expect(first.statistics.committedProposals > 0)
    }
}
