import Foundation
import ServerSimulation

// `server-sim`: runs the whole-server simulation for many seeds (CI runs a few in FaultTests).
// A failing seed prints its faults and the histories of its failing keys, and replays exactly:
// `server-sim --first SEED --seeds 1`. This command sets SWIFT_DETERMINISTIC_HASHING=1 (by
// starting itself again with it), so that dictionaries iterate the same way in every run.

if ProcessInfo.processInfo.environment["SWIFT_DETERMINISTIC_HASHING"] == nil {
    setenv("SWIFT_DETERMINISTIC_HASHING", "1", 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    FileHandle.standardError.write(Data("server-sim: cannot restart with SWIFT_DETERMINISTIC_HASHING=1\n".utf8))
    exit(2)
}

let usage = """
    usage: server-sim [--seeds N] [--first SEED] [--seconds S] [--members N] [--stale-reads] [--verbose]

      --seeds       how many seeds to run (default 100), from --first on (default 1)
      --seconds     simulated seconds of client work per seed (default 20)
      --members     cluster size (default 3)
      --stale-reads the injected bug: reads skip ReadIndex; seeds are expected to fail
      --verbose     print every seed's faults
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("server-sim: \(message)\n\n\(usage)\n".utf8))
    exit(2)
}

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var seeds = 100, first: UInt64 = 1, seconds = 20, members = 3, staleReads = false, verbose = false
var arguments = CommandLine.arguments.dropFirst()
while let name = arguments.popFirst() {
    if name == "--stale-reads" || name == "--verbose" {
        if name == "--verbose" { verbose = true } else { staleReads = true }
        continue
    }
    guard let value = arguments.popFirst(), let number = UInt64(value), number > 0 else {
        fail(["--seeds", "--first", "--seconds", "--members"].contains(name) ? "\(name) needs a positive number"
                                                                              : "unknown option \(name)")
    }
    switch name {
    case "--seeds": seeds = Int(number)
    case "--first": first = number
    case "--seconds": seconds = Int(number)
    case "--members": members = Int(number)
    default: fail("unknown option \(name)")
    }
}

let root = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
var failures: [UInt64] = []
var operations = 0, faults = 0
var kinds: [String: Int] = [:]
let started = ContinuousClock.now
for seed in first..<(first + UInt64(seeds)) {
    var options = Simulation.Options(seed: seed, directory: "\(root)/server-sim-\(getpid())-\(seed)")
    options.seconds = seconds
    options.members = members
    options.staleReads = staleReads
    defer { try? FileManager.default.removeItem(atPath: options.directory) }
    let result: Simulation.Result
    do {
        result = try Simulation(options).run()
    } catch {
        say("seed \(seed): the simulation could not run: \(error)")
        failures.append(seed)
        continue
    }
    operations += result.operations
    faults += result.faults.count
    for fault in result.faults {
        kinds[Simulation.kind(of: fault), default: 0] += 1
    }
    say(result.summary)
    if verbose || !result.passed { say("  faults: \(result.faults.joined(separator: ", "))") }
    if !result.passed {
        failures.append(seed)
        for violation in result.violations + result.listViolations.prefix(20) { say("  \(violation)") }
        for (key, history) in result.failedHistories.sorted(by: { $0.key < $1.key }) {
            say("  key \(key) is not linearizable (\(result.results[key]!)):\n\(history)")
        }
    }
}
say("server-sim: \(seeds) seeds, \(operations) operations, \(faults) faults "
    + "(\(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))) "
    + "in \(started.duration(to: .now)); \(failures.count) failed\(failures.isEmpty ? "" : ": \(failures)")")
exit(failures.isEmpty ? 0 : 1)
