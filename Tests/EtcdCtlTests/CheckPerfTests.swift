import Foundation
import Testing
import TestSupport

/// `etcdctl check perf` runs its whole minute against our server: every write succeeds, the
/// report has etcdctl's lines, and nothing is left under the prefix; with `--auto-compact` and
/// `--auto-defrag` it compacts to the deletion's revision and defragments. Whether the timings
/// pass is the machine's business, not this test's: it checks only that the verdict and the exit
/// code follow the lines. (The refusals are in the differential table.)
@Suite(.serialized) struct CheckPerfTests {
    @Test func smallLoadPassesAgainstOurServer() async throws {
        try await TemporaryDirectory.with(prefix: "check-perf") { directory in
            let member = try await EtcdMember.start(in: directory, executable: try builtExecutable("etcd"))
            defer { Task { await member.stop() } }
            let endpoint = ["--endpoints", member.clientEndpoint]
            let run = try Side.execute(try oursEtcdctlPath(), endpoint + ["check", "perf", "--auto-compact", "--auto-defrag"],
                                       stdin: nil)
            let lines = run.stdout.split(separator: "\n").map(String.init)
            // The progress line (carriage returns, ending at 60 / 60), then etcdctl's report.
            #expect(lines.first?.hasSuffix("\r 60 / 60  100.00% 1m0s") == true, "\(lines.first ?? "")")
            let report = Array(lines.dropFirst())
            #expect(report.count == 8, "\(report)")
            guard report.count == 8 else { return }
            #expect(report[0].wholeMatch(of: /Compacting with revision \d+/) != nil)
            #expect(report[1].wholeMatch(of: /Compacted with revision \d+/) != nil)
            #expect(report[2] == "Defragmenting \"\(member.clientEndpoint)\"")
            #expect(report[3] == "Defragmented \"\(member.clientEndpoint)\"")
            #expect(report[4].wholeMatch(of: /(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes\/s/) != nil)
            #expect(report[5].wholeMatch(of: /(PASS: Slowest request took|Slowest request took too long:) \d+\.\d{6}s/) != nil)
            #expect(report[6].wholeMatch(of: /(PASS: Stddev is|Stddev too high:) \d+\.\d{6}s/) != nil)
            let passed = report[4...6].allSatisfy { $0.hasPrefix("PASS: ") }
            #expect(report[7] == (passed ? "PASS" : "FAIL"))
            #expect(run.exitCode == (passed ? 0 : 1), "\(run)")
            let left = try Side.execute(try oursEtcdctlPath(), endpoint + ["get", "/etcdctl-check-perf/", "--prefix", "--keys-only"],
                                        stdin: nil)
            #expect(left.stdout.isEmpty && left.exitCode == 0, "\(left)")
            // Compacted to the revision of the deletion: the revision before it is gone.
            let revision = Int(report[0].split(separator: " ").last!)!
            let old = try Side.execute(try oursEtcdctlPath(), endpoint + ["get", "x", "--rev", String(revision - 1)], stdin: nil)
            #expect(old.stderr.contains("required revision has been compacted"), "\(old)")
        }
    }
}
