import FaultHarness
import Foundation
import Linearizability
import TestSupport

// `fault-run`: the fault harness's register and list-append workloads for as long as asked, for the long runs that
// CI's bounded ones stand in for. Built in release with the server
// (`swift build -c release --product etcd --product fault-run`), because the clients and the
// checker, not the members, limit a debug build's rate. Exits 1 when any check fails, keeping the
// run's directory (member logs, the failing keys' histories).

let usage = """
    usage: fault-run [--seconds N] [--clients N] [--seed N] [--faults KIND] [--members N] [--etcd PATH]

      --seconds   how long the clients work (default 1800); the run then checks what they saw
      --clients   concurrent register clients, on half as many keys at a time (default 48), and a
                  quarter as many list-append clients
      --seed      the fault schedule and the clients' choices (default: random, printed)
      --faults    crashesAndDisks (default; our server only: every kill a power failure, disk faults),
                  killsAndPauses, powerFailures, partitionsAndLinks (network namespaces, as root)
      --members   cluster size for partitionsAndLinks (3 or 5; default 3)
      --etcd      the server to run (default: the etcd built next to this command); /usr/bin/etcd
                  runs Debian's, for every kind but crashesAndDisks
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fault-run: \(message)\n\n\(usage)\n".utf8))
    exit(2)
}

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let name = arguments.popFirst() {
    guard ["--seconds", "--clients", "--seed", "--faults", "--members", "--etcd"].contains(name) else {
        fail(name == "--help" || name == "-h" ? "the register and list-append workloads under faults" : "unknown option \(name)")
    }
    guard let value = arguments.popFirst() else { fail("\(name) needs a value") }
    options[name] = value
}

func number(_ name: String, default value: Int, in options: [String: String]) -> Int {
    guard let text = options[name] else { return value }
    guard let number = Int(text), number > 0 else { fail("\(name) must be a positive number, not \(text)") }
    return number
}

let seconds = number("--seconds", default: 1800, in: options)
let clients = number("--clients", default: 48, in: options)
let members = number("--members", default: 3, in: options)
let seed: UInt64
if let text = options["--seed"] {
    guard let number = UInt64(text) else { fail("--seed must be a number, not \(text)") }
    seed = number
} else {
    seed = UInt64.random(in: 1...UInt64.max)
}
guard let kind = Nemesis.Kind(rawValue: options["--faults"] ?? "crashesAndDisks") else {
    fail("unknown fault kind \(options["--faults"]!)")
}
let executable: String
do {
    executable = try options["--etcd"] ?? builtExecutable("etcd")
} catch {
    fail("\(error)")
}

let snapshotEvery = ["--snapshot-count", "500"]
let environment = kind == .crashesAndDisks ? [Nemesis.failpointVariable: "walUnsyncedWritesLostOnKill"] : [:]
RegisterHarness.say("fault-run: \(kind.rawValue), \(clients) clients, \(seconds) s, seed \(seed), server \(executable)")

let started = ContinuousClock.now
let directory = try TemporaryDirectory(prefix: "fault-run")
let lab = kind == .partitionsAndLinks ? try NetworkLab(size: members) : nil
let run: RegisterHarness.Run
do {
    run = try await RegisterHarness.run(executable: executable, seconds: seconds, faults: kind, directory: directory,
                                        clients: clients, seed: seed, environment: environment,
                                        extraArguments: snapshotEvery, lab: lab)
} catch {
    lab?.destroy()
    RegisterHarness.say("fault-run: the harness stopped: \(error); the run's files are in \(directory.path)")
    exit(1)
}
lab?.destroy()

RegisterHarness.say(RegisterHarness.summary(run, "fault-run", seed: seed))
let violations = run.results.filter { if case .violation = $0.value { true } else { false } }.keys.sorted()
let undecided = run.results.filter { if case .undecided = $0.value { true } else { false } }.keys.sorted()
let lostWrites = run.watchViolations.filter { $0.hasPrefix("acknowledged write") }
RegisterHarness.say("""
    fault-run: \(run.operations) operations in \(started.duration(to: .now)), \(run.faults.count) faults; \
    \(violations.count) linearizability violations, \(undecided.count) undecided keys, \
    \(lostWrites.count) lost acknowledged writes, \(run.watchViolations.count - lostWrites.count) other watch-guarantee \
    violations, \(run.listViolations.count) list-append violations, \(run.stateViolations.count) state violations
    """)
for key in violations { RegisterHarness.say("  not linearizable: \(key), history in \(directory.appending("history-\(key).txt"))") }
for key in undecided { RegisterHarness.say("  undecided: \(key), history in \(directory.appending("history-\(key).txt"))") }
for violation in (run.watchViolations + run.listViolations + run.stateViolations).prefix(20) {
    RegisterHarness.say("  \(violation)")
}
if !run.listViolations.isEmpty { RegisterHarness.say("  lists in \(directory.appending("lists.txt"))") }
if violations.isEmpty && undecided.isEmpty && run.watchViolations.isEmpty && run.listViolations.isEmpty
    && run.stateViolations.isEmpty {
    directory.remove()
    exit(0)
}
RegisterHarness.say("fault-run: FAILED; the run's files are in \(directory.path)")
exit(1)
