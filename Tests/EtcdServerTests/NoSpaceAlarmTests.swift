import Foundation
import Testing
import TestSupport

/// `--quota-backend-bytes`: writes that would exceed it raise the NOSPACE alarm and are refused
/// with etcd's error until an operator compacts, defragments and disarms; reads keep working.
/// The same steps through Debian's etcdctl against the reference etcd and against ours.
@Suite(.serialized) struct NoSpaceAlarmTests {
    struct Step: Equatable {
        var command: String
        var exitCode: Int32
        var output: String
    }

    static func etcdctl(_ member: EtcdMember, _ arguments: [String]) throws -> (Int32, String, String) {
        let result = try runProcess("/usr/bin/etcdctl", ["--endpoints", member.clientEndpoint] + arguments,
                                    environment: ["ETCDCTL_API": "3"])
        return (result.exitCode, result.stdout, result.stderr)
    }

    /// Fills the store until a put is refused, then runs the operator's recovery.
    static func scenario(_ member: EtcdMember) throws -> [Step] {
        let value = String(repeating: "x", count: 20_000)
        var filled = 0
        var refusal = ""
        while filled < 2000 {
            let (code, _, stderr) = try etcdctl(member, ["put", "fill/\(filled)", value])
            if code != 0 {
                refusal = stderr.split(separator: "\n").last.map(String.init) ?? stderr
                break
            }
            filled += 1
        }
        let memberID = try etcdctl(member, ["endpoint", "status", "-w", "fields"]).1
            .split(separator: "\n").first { $0.hasPrefix("\"MemberID\"") }?.split(separator: " ").last.map(String.init) ?? "?"
        var steps = [Step(command: "fill", exitCode: filled > 0 && filled < 2000 ? 0 : 1, output: refusal)]
        func step(_ arguments: [String]) throws {
            let (code, stdout, stderr) = try etcdctl(member, arguments)
            let lastError = stderr.split(separator: "\n").last { $0.hasPrefix("Error:") }.map(String.init) ?? ""
            var text = stdout + lastError
            text = text.replacingOccurrences(of: memberID, with: "<MEMBER>")
            text = text.replacingOccurrences(of: String(UInt64(memberID) ?? 0, radix: 16), with: "<MEMBER>")
            text = text.replacing(/compacted revision \d+/, with: "compacted revision <REV>")
            text = text.replacing(/member\[127.0.0.1:\d+\]/, with: "member[<CLIENT>]")
            // How many values fit under the quota depends on each store's own bookkeeping.
            if arguments.first == "del" { text = text.replacing(/^\d+\n$/, with: "<N>\n") }
            let command = arguments.first == "compaction" ? "compaction <REV> --physical" : arguments.joined(separator: " ")
            steps.append(Step(command: command, exitCode: code, output: text))
        }
        try step(["alarm", "list"])
        try step(["put", "another", "value"])
        try step(["get", "fill/0", "--print-value-only", "--limit", "1", "--keys-only"])
        try step(["del", "fill/", "--prefix"])
        try step(["put", "another", "value"])
        let revision = try etcdctl(member, ["get", "another", "-w", "fields"]).1
            .split(separator: "\n").first { $0.hasPrefix("\"Revision\"") }?.split(separator: " ").last.map(String.init) ?? "1"
        try step(["compaction", revision, "--physical"])
        try step(["defrag"])
        try step(["alarm", "disarm"])
        try step(["alarm", "list"])
        try step(["put", "another", "value"])
        return steps
    }

    @Test func noSpaceAlarmMatchesTheReference() async throws {
        try await TemporaryDirectory.with(prefix: "nospace") { directory in
            let oursDirectory = try TemporaryDirectory(prefix: "nospace-ours")
            defer { oursDirectory.remove() }
            let quota = ["--quota-backend-bytes", String(1 << 20)]
            let reference = try await EtcdMember.start(in: directory, extraArguments: quota)
            let ours = try await EtcdMember.start(in: oursDirectory, executable: try builtExecutable("etcd"),
                                                  extraArguments: quota)
            let expected = try Self.scenario(reference)
            let actual = try Self.scenario(ours)
            #expect(expected.first?.output == "Error: etcdserver: mvcc: database space exceeded")
            #expect(actual == expected)
            await reference.stop()
            await ours.stop()
        }
    }
}
