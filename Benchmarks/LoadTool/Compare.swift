import ArgumentParser
import Foundation
import TestSupport

/// Starts the reference etcd and ours with the same member count and flags on loopback, runs the
/// same suite against each, alternating rounds, and prints our ratio to etcd with both raw figures.
struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Side-by-side suite: our server against the reference etcd, on loopback.")
    @Option(help: "The reference etcd binary.") var reference = "/usr/bin/etcd"
    @Option(help: "Our etcd binary (defaults to the reference: measures the noise of the machine).") var ours: String?
    @Option(help: "Members per cluster (1 or 3).") var members = 1
    @Option(help: "Alternating rounds; medians are reported.") var rounds = 3
    @Option(help: "Multiplies every workload's request count.") var scale = 1.0
    @Option(help: "Only workloads whose name contains this.") var only: String?
    @Option(help: "With several members: keys (256 bytes each) loaded before a new member joins, to time its catch-up (0: skip).")
    var catchUpKeys = 0
    @Option(help: "With one member: keys (256 bytes each) loaded after the suite, to report the server's RSS holding them and the time to serve again after a restart (0: skip).")
    var datasetKeys = 0

    struct Workload {
        var name: String
        var unit: String
        var measure: (String) async throws -> Double
    }

    func workloads() -> [Workload] {
        let n = { (count: Int) in max(Int(Double(count) * scale), 1) }
        func load(_ arguments: [String]) -> (String) async throws -> LoadReport {
            { endpoints in
                let options = try CommonOptions.parse(["--endpoints", endpoints] + arguments)
                _ = try await options.measure("warm-up") { client, _ in _ = try await client.get(Data("warm-up".utf8)) }
                return try await options.measure(arguments.joined(separator: " ")) { client, sequence in
                    _ = try await client.put(Workloads.key(size: 8, sequence: sequence, keySpace: 100_000, sequential: false),
                                             Workloads.value(size: 256))
                }
            }
        }
        func rate(_ arguments: [String]) -> (String) async throws -> Double {
            { endpoints in try await load(arguments)(endpoints).requestsPerSecond }
        }
        func range(serializable: Bool, _ arguments: [String]) -> (String) async throws -> Double {
            { endpoints in
                let options = try CommonOptions.parse(["--endpoints", endpoints] + arguments)
                let report = try await options.measure("range") { client, _ in
                    _ = try await client.get(Data("range-key".utf8), serializable: serializable)
                }
                return report.requestsPerSecond
            }
        }
        return [
            Workload(name: "put, 1 client", unit: "req/s",
                     measure: rate(["--clients", "1", "--conns", "1", "--total", "\(n(1000))"])),
            Workload(name: "put, 100 clients / 10 conns", unit: "req/s",
                     measure: rate(["--clients", "100", "--conns", "10", "--total", "\(n(10_000))"])),
            Workload(name: "put, 500 clients / 50 conns", unit: "req/s",
                     measure: rate(["--clients", "500", "--conns", "50", "--total", "\(n(20_000))"])),
            Workload(name: "range linearizable, 1 client", unit: "req/s",
                     measure: range(serializable: false, ["--clients", "1", "--conns", "1", "--total", "\(n(2000))"])),
            Workload(name: "range serializable, 1 client", unit: "req/s",
                     measure: range(serializable: true, ["--clients", "1", "--conns", "1", "--total", "\(n(2000))"])),
            Workload(name: "range linearizable, 100 clients", unit: "req/s",
                     measure: range(serializable: false, ["--clients", "100", "--conns", "10", "--total", "\(n(20_000))"])),
            Workload(name: "range serializable, 100 clients", unit: "req/s",
                     measure: range(serializable: true, ["--clients", "100", "--conns", "10", "--total", "\(n(20_000))"])),
            Workload(name: "watch p99, 1000 watchers", unit: "ms") { endpoints in
                let connections = try await LoadRunner(
                    endpoints: endpoints.split(separator: ",").map(String.init), connections: 10,
                    clients: 1, total: 0, duration: nil, rate: nil).makeConnections()
                let report = try await Workloads.watchLatency(connections: connections, watchers: 1000, puts: n(50), rate: 10)
                for connection in connections { await connection.close() }
                guard report.errors.isEmpty else { throw ValidationError("watch latency: \(report.errors)") }
                return report.percentile(99) * 1000
            },
        ].filter { workload in only.map { workload.name.contains($0) } ?? true }
    }

    var catchUpName: String { "new member catches up on \(catchUpKeys) keys (lower is better)" }
    var electionName: String { "new leader after SIGKILL of the leader (lower is better)" }
    var datasetMemoryName: String { "server RSS holding \(datasetKeys) more 256-byte values (lower is better)" }
    var restartName: String { "restart to serving with \(datasetKeys) keys (lower is better)" }

    func run() async throws {
        let directory = try TemporaryDirectory(prefix: "etcd-compare")
        defer { directory.remove() }
        let oursBinary = ours ?? reference
        let suite = workloads()
        var results: [String: (ours: [Double], reference: [Double])] = [:]
        var rss: (ours: Int, reference: Int) = (0, 0)
        print("load average at start: \(loadAverage())")
        for round in 1...rounds {
            // Alternate which server goes first, so drift on the machine hits both alike.
            let order = round % 2 == 1 ? [("reference", reference), ("ours", oursBinary)] : [("ours", oursBinary), ("reference", reference)]
            for (label, binary) in order {
                let clusterDirectory = try TemporaryDirectory(prefix: "\(label)-\(round)")
                let cluster = try await EtcdCluster.start(in: clusterDirectory, size: members, executable: binary)
                for workload in suite {
                    let value = try await workload.measure(cluster.endpoints)
                    if label == "ours" { results[workload.name, default: ([], [])].ours.append(value) }
                    else { results[workload.name, default: ([], [])].reference.append(value) }
                    FileHandle.standardError.write(Data("round \(round) \(label) \(workload.name): \(String(format: "%.1f", value)) \(workload.unit)\n".utf8))
                }
                let memory = cluster.members.map { residentKilobytes(pid: $0.process.pid) }.max() ?? 0
                if label == "ours" { rss.ours = max(rss.ours, memory) } else { rss.reference = max(rss.reference, memory) }
                var restartedMember: EtcdMember?
                if members == 1 && datasetKeys > 0 {
                    let dataset = try await ClusterTimings.datasetRestart(cluster, keys: datasetKeys, valueSize: 256)
                    restartedMember = dataset.member
                    for (name, value) in [(datasetMemoryName, Double(dataset.residentKilobytes) / 1024),
                                          (restartName, dataset.restartSeconds)] {
                        if label == "ours" { results[name, default: ([], [])].ours.append(value) }
                        else { results[name, default: ([], [])].reference.append(value) }
                        FileHandle.standardError.write(Data("round \(round) \(label) \(name): \(String(format: "%.2f", value))\n".utf8))
                    }
                }
                if members > 1 {
                    var timings: [(String, Double)] = []
                    var added: EtcdMember?
                    if catchUpKeys > 0 {
                        let catchUp = try await ClusterTimings.newMemberCatchUp(
                            cluster, keys: catchUpKeys, valueSize: 256, executable: binary, directory: clusterDirectory)
                        timings.append((catchUpName, catchUp.seconds))
                        added = catchUp.member
                    }
                    // Last: it kills a member.
                    timings.append((electionName, try await ClusterTimings.electionAfterLeaderKill(cluster)))
                    await added?.stop()
                    for (name, value) in timings {
                        if label == "ours" { results[name, default: ([], [])].ours.append(value) }
                        else { results[name, default: ([], [])].reference.append(value) }
                        FileHandle.standardError.write(Data("round \(round) \(label) \(name): \(String(format: "%.2f", value)) s\n".utf8))
                    }
                }
                await restartedMember?.stop()
                await cluster.stop()
                clusterDirectory.remove()
            }
        }
        print("")
        print("| load (\(members) member\(members > 1 ? "s" : ""), median of \(rounds)) | ours | etcd 3.4 | ratio |")
        print("|---|---|---|---|")
        let timings = members > 1 ? (catchUpKeys > 0 ? [catchUpName, electionName] : [electionName]) : []
        let dataset = members == 1 && datasetKeys > 0 ? [(datasetMemoryName, "MiB"), (restartName, "s")] : []
        for (name, unit) in suite.map({ ($0.name, $0.unit) }) + timings.map({ ($0, "s") }) + dataset {
            guard let figures = results[name] else { continue }
            let oursMedian = median(figures.ours), referenceMedian = median(figures.reference)
            // Always ours ÷ etcd: above 1 is better for rates, below 1 is better for latencies.
            let ratio = oursMedian / referenceMedian
            print(String(format: unit == "s" ? "| %@ | %.2f %@ | %.2f %@ | %.2f× |" : "| %@ | %.1f %@ | %.1f %@ | %.2f× |",
                         name, oursMedian, unit, referenceMedian, unit, ratio))
        }
        print(String(format: "| peak server RSS after the suite | %.1f MiB | %.1f MiB | %.2f× |",
                     Double(rss.ours) / 1024, Double(rss.reference) / 1024, Double(rss.ours) / Double(max(rss.reference, 1))))
        print("load average at end: \(loadAverage())")
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func residentKilobytes(pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
}

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}
