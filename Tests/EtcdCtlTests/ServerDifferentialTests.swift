import Foundation
import Testing
import TestSupport

/// Debian's etcdctl against the reference etcd and against ours, fed the same table of command
/// lines in the same order: stdout, stderr and exit codes must match once ids, ports, lease ids,
/// timings and Raft indexes are replaced by placeholders.
@Suite(.serialized) struct ServerDifferentialTests {
    @Test func referenceEtcdctlGetsTheSameAnswersFromOurServer() async throws {
        try await TemporaryDirectory.with(prefix: "server-diff") { directory in
            let oursDirectory = try TemporaryDirectory(prefix: "server-diff-ours")
            defer { oursDirectory.remove() }
            let referenceServer = try await EtcdMember.start(in: directory)
            let oursServer = try await EtcdMember.start(in: oursDirectory, executable: try builtExecutable("etcd"))
            defer { Task { await referenceServer.stop(); await oursServer.stop() } }
            var reference = try await Side(etcdctl: "/usr/bin/etcdctl", server: referenceServer)
            var ours = try await Side(etcdctl: "/usr/bin/etcdctl", server: oursServer)
            reference.ignoresRaftIndexes = true
            ours.ignoresRaftIndexes = true

            let mismatches = try EtcdctlCase.mismatches(reference: &reference, ours: &ours)
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(EtcdctlCase.table.count) command lines differ:\n\(mismatches.joined(separator: "\n\n"))")
        }
    }
}
