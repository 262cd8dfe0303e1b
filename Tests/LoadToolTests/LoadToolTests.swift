import Foundation
import TestSupport
import Testing

/// The load tool end to end, against Debian's etcd and ours alike: every request and every watch
/// event is answered and counted, with no errors; `--target-leader` finds the leader. (Its timings
/// are the benchmarks' business, never a test's.)
@Suite(.serialized) struct LoadToolTests {
    static let servers: [(label: String, executable: @Sendable () throws -> String)] = [
        ("reference", { EtcdMember.referenceExecutable }), ("ours", { try builtExecutable("etcd") }),
    ]

    @Test(arguments: [0, 1]) func everyWorkloadCountsEveryRequestAndEvent(server: Int) async throws {
        let directory = try TemporaryDirectory(prefix: "load-tool-\(Self.servers[server].label)")
        defer { directory.remove() }
        let cluster = try await EtcdCluster.start(in: directory, size: 1, executable: try Self.servers[server].executable())
        do {
            try Self.run(against: cluster)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    static func run(against cluster: EtcdCluster) throws {
        let tool = try builtExecutable("etcd-benchmark")
        let puts = try report(tool, ["put", "--endpoints", cluster.endpoints, "--conns", "2", "--clients", "4",
                                     "--total", "200", "--val-size", "16", "--target-leader", "--json"])
        #expect(puts.succeeded == 200 && puts.errors.isEmpty, "\(puts)")

        // A lease per client, each renewed by keep-alives that must find it.
        let keepalives = try report(tool, ["lease-keepalive", "--endpoints", cluster.endpoints, "--conns", "2",
                                           "--clients", "4", "--total", "100", "--json"])
        #expect(keepalives.succeeded == 100 && keepalives.errors.isEmpty, "\(keepalives)")

        // 50 watchers on 2 streams catch up on 4 past events each while gets run; an event
        // missing would be reported as an error.
        let watchGet = try report(tool, ["watch-get", "--endpoints", cluster.endpoints, "--conns", "2",
                                         "--watchers", "50", "--streams", "2", "--events", "4", "--json"])
        #expect(watchGet.errors.isEmpty, "\(watchGet)")

        // 30 watch streams over 3 connections, 8 puts: 240 events, each timed once.
        let watch = try report(tool, ["watch-latency", "--endpoints", cluster.endpoints, "--conns", "3",
                                      "--watchers", "30", "--put-total", "8", "--put-rate", "40", "--json"])
        #expect(watch.succeeded == 240 && watch.errors.isEmpty, "\(watch)")
    }

    struct Report: Decodable, CustomStringConvertible {
        var succeeded: Int
        var errors: [String: Int]
        var description: String { "succeeded \(succeeded), errors \(errors)" }
    }

    static func report(_ tool: String, _ arguments: [String]) throws -> Report {
        let result = try runProcess(tool, arguments)
        try #require(result.exitCode == 0, "\(arguments[0]): \(result.stderr)")
        return try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
    }
}
