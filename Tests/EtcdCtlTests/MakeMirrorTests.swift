import Foundation
import Testing
import TestSupport

/// `etcdctl make-mirror`: ours and Debian's mirror the same source into two destinations; after
/// the same base and the same changes (puts, deletes, a multi-key transaction), the two
/// destinations hold the same keys and values.
@Suite(.serialized) struct MakeMirrorTests {
    @Test func ourMirrorCopiesWhatTheReferenceMirrorCopies() async throws {
        try await TemporaryDirectory.with(prefix: "make-mirror") { directory in
            let etcd = try builtExecutable("etcd")
            let source = try await EtcdMember.start(in: directory, name: "source", executable: etcd)
            let ours = try await EtcdMember.start(in: directory, name: "ours", executable: etcd)
            let reference = try await EtcdMember.start(in: directory, name: "reference", executable: etcd)
            var mirrors: [ChildProcess] = []
            do {
                try await Self.compareMirrors(source: source, ours: ours, reference: reference, directory: directory,
                                              mirrors: &mirrors)
            } catch {
                for process in mirrors { await process.stop() }
                for member in [source, ours, reference] { await member.stop() }
                throw error
            }
            for process in mirrors { await process.stop() }
            for member in [source, ours, reference] { await member.stop() }
        }
    }

    static func etcdctl(_ arguments: [String]) throws -> EtcdctlResult {
        try Side.execute(try oursEtcdctlPath(), arguments, stdin: nil)
    }

    /// Every key and value of `member`, in key order, as "key=value" lines.
    static func contents(of member: EtcdMember) throws -> String {
        try etcdctl(["--endpoints", member.clientEndpoint, "get", "", "--from-key"]).stdout
    }

    static func compareMirrors(source: EtcdMember, ours: EtcdMember, reference: EtcdMember, directory: TemporaryDirectory,
                               mirrors: inout [ChildProcess]) async throws {
        let at = ["--endpoints", source.clientEndpoint]
        // More than a page (1,000 keys) of base, written 120 to a transaction.
        for batch in 0..<10 {
            let puts = (batch * 120..<(batch + 1) * 120).map { "put src/base/\($0) value-\($0)" }.joined(separator: "\n")
            let written = try Side.execute(try oursEtcdctlPath(), at + ["txn"], stdin: "\n\(puts)\n\n\n")
            #expect(written.exitCode == 0, "\(written.stderr)")
        }
        _ = try etcdctl(at + ["put", "elsewhere", "not mirrored"])
        let flags = ["make-mirror", "--prefix", "src/", "--dest-prefix", "dst/"]
        mirrors.append(try ChildProcess(
            name: "ours-mirror", executable: try oursEtcdctlPath(),
            arguments: at + flags + [ours.clientEndpoint], environment: ["ETCDCTL_API": "3"],
            logPath: directory.appending("ours-mirror.log")))
        mirrors.append(try ChildProcess(
            name: "reference-mirror", executable: "/usr/bin/etcdctl",
            arguments: at + flags + [reference.clientEndpoint], environment: ["ETCDCTL_API": "3"],
            logPath: directory.appending("reference-mirror.log")))
        for destination in [ours, reference] {
            try await waitUntil("\(destination.name) to hold the base") {
                try contents(of: destination).contains("dst/base/1199\nvalue-1199\n")
            }
        }
        _ = try etcdctl(at + ["put", "src/new", "fresh"])
        _ = try etcdctl(at + ["put", "src/base/1", "changed"])
        _ = try etcdctl(at + ["del", "src/base/2"])
        // A range delete is one revision, so one destination transaction (within --max-txn-ops).
        _ = try etcdctl(at + ["del", "src/base/1000", "src/base/1003"])
        let txn = try Side.execute(try oursEtcdctlPath(), at + ["txn"], stdin: "\nput src/txn/a 1\nput src/txn/b 2\ndel src/base/3\n\n\n")
        #expect(txn.exitCode == 0, "\(txn.stderr)")
        _ = try etcdctl(at + ["put", "src/last", "done"])
        for destination in [ours, reference] {
            try await waitUntil("\(destination.name) to hold the changes") {
                try contents(of: destination).contains("dst/last\ndone\n")
            }
        }
        let mirrored = try contents(of: ours)
        #expect(mirrored == (try contents(of: reference)))
        #expect(mirrored.contains("dst/txn/a\n1\ndst/txn/b\n2\n"))
        #expect(!mirrored.contains("dst/base/2\n") && !mirrored.contains("dst/base/1001\n") && !mirrored.contains("elsewhere"))
        for process in mirrors { #expect(process.isRunning, "\(process.logTail())") }
    }
}
