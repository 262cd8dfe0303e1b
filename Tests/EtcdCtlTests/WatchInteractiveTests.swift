import Foundation
import Testing
import TestSupport

/// `etcdctl watch -i`: the same stdin script, fed line by line while another client writes,
/// through Debian's etcdctl against Debian's etcd, through ours against Debian's etcd and through
/// ours against ours (each on a fresh server, so revisions agree). Output, errors and exit code
/// must match: bad lines reported and skipped, several watches on one stream, a progress request
/// answered by each watch, an exec command with ETCD_WATCH_*, and end of input ending with code 3.
@Suite(.serialized) struct WatchInteractiveTests {
    @Test func interactiveWatchMatchesDebianEtcdctl() async throws {
        let etcd = try builtExecutable("etcd"), ours = try oursEtcdctlPath()
        var results: [(String, EtcdctlResult)] = []
        for (client, server) in [("/usr/bin/etcdctl", EtcdMember.referenceExecutable),
                                 (ours, EtcdMember.referenceExecutable), (ours, etcd)] {
            let shown = "\(client == ours ? "our" : "debian") etcdctl → \(server == etcd ? "our" : "debian") etcd"
            try await TemporaryDirectory.with(prefix: "watch-interactive") { directory in
                let member = try await EtcdMember.start(in: directory, executable: server)
                defer { Task { await member.stop() } }
                results.append((shown, try await Self.script(client, member: member, directory: directory)))
            }
        }
        let expected = results[0].1
        #expect(expected.exitCode == 3)
        #expect(expected.stdout.components(separatedBy: "progress notify: 5\n").count == 4, "\(expected.stdout)")
        #expect(expected.stdout.contains("got \"a\" 5\n"), "\(expected.stdout)")
        for (shown, result) in results.dropFirst() {
            #expect(result == expected, "\(shown) differs from \(results[0].0)")
        }
    }

    /// Feeds the script to `etcdctl watch -i`, waiting for each step's output before the next.
    static func script(_ etcdctl: String, member: EtcdMember, directory: TemporaryDirectory) async throws -> EtcdctlResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: etcdctl)
        process.arguments = ["--endpoints", member.clientEndpoint, "watch", "-i"]
        process.environment = ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]
        let input = Pipe()
        let outputPath = directory.appending("watch.out"), errorPath = directory.appending("watch.err")
        for path in [outputPath, errorPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw TestSupportError.commandFailed("cannot create \(path)")
        }
        process.standardInput = input
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func send(_ lines: String...) { input.fileHandleForWriting.write(Data(lines.map { $0 + "\n" }.joined().utf8)) }
        func output() -> String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
        func put(_ key: String, _ value: String) throws {
            let result = try runProcess("/usr/bin/etcdctl", ["--endpoints", member.clientEndpoint, "put", key, value],
                                        environment: ["ETCDCTL_API": "3"])
            #expect(result.exitCode == 0, "\(result)")
        }

        send("watch a", "watch --prefix b", "", "bogus", "watch", "watch x y --prefix", "watch --prev-kv c")
        // The watches start asynchronously: write a marker until the first watch reports it.
        var markers = 0
        try await waitUntil("the watches to be created", timeout: .seconds(20)) {
            markers += 1
            try put("a", "marker-\(markers)")
            try await Task.sleep(for: .milliseconds(200))
            return output().contains("marker-")
        }
        // Marker puts are revisions 2...; later revisions depend on how many there were.
        let base = Int64(1 + markers)
        try put("b/1", "2")
        try put("c", "3")
        try put("c", "4")
        try await waitUntil("the events", timeout: .seconds(10)) { output().contains("c\n3\nc\n4\n") }
        send("progress")
        try await waitUntil("every watch's progress notification", timeout: .seconds(10)) {
            output().components(separatedBy: "progress notify:").count == 4
        }
        send("watch --rev \(base) a -- sh -c \"echo got $ETCD_WATCH_KEY $ETCD_WATCH_REVISION\"")
        try await waitUntil("the exec command's output", timeout: .seconds(10)) { output().contains("got ") }
        try input.fileHandleForWriting.close()
        try await waitUntil("etcdctl to end at end of input", timeout: .seconds(10)) { !process.isRunning }
        let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        // Revisions written relative to the markers, so that runs with more markers compare equal.
        var text = output().replacing(/(notify:|"a") (\d+)\n/) { match in
            "\(match.1) \(Int64(match.2)! - base + 2)\n"
        }
        text = text.replacing(/marker-\d+\n/, with: "marker\n").replacing(/(PUT\na\nmarker\n)+/, with: "PUT\na\nmarker\n")
        return EtcdctlResult(
            exitCode: process.terminationStatus, stdout: text,
            stderr: errors.split(separator: "\n").filter { !$0.hasPrefix("{\"level\":") }.joined(separator: "\n"))
    }
}
