import ArgumentParser
import EtcdProto
import Foundation

/// `etcd-benchmark`: etcd's benchmark workloads against any etcd v3 endpoint.
@main
struct EtcdBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-benchmark",
        abstract: "Load any etcd v3 endpoint the way etcd's benchmark tool does.",
        subcommands: [Put.self, Range.self, TxnPut.self, TxnMixed.self, WatchLatency.self, WatchGet.self,
                      LeaseKeepalive.self, Compare.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Comma-separated client endpoints.") var endpoints = "127.0.0.1:2379"
    @Option(help: "Number of gRPC connections.") var conns = 1
    @Option(help: "Number of concurrent clients.") var clients = 1
    @Option(help: "Total number of requests.") var total = 10_000
    @Option(help: "Run for this many seconds instead of --total.") var duration: Double?
    @Option(help: "Maximum requests per second (0: unlimited).") var rate = 0
    @Flag(help: "Send every request to the cluster's leader only.") var targetLeader = false
    @Flag(help: "Print the report as JSON.") var json = false

    /// The load as the flags describe it; with `--target-leader`, on the leader's endpoint only.
    func runner() async throws -> LoadRunner {
        var endpoints = endpoints.split(separator: ",").map(String.init)
        if targetLeader { endpoints = [try await LoadRunner.leader(of: endpoints)] }
        return LoadRunner(
            endpoints: endpoints, connections: conns, clients: clients,
            total: total, duration: duration.map { .milliseconds(Int64($0 * 1000)) }, rate: rate > 0 ? rate : nil)
    }

    func show(_ report: LoadReport) throws {
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.json, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.text)
        }
    }

    /// Runs `request` under this load and closes the connections afterwards.
    func measure(_ name: String, _ request: @escaping @Sendable (LoadConnection, Int) async throws -> Void) async throws -> LoadReport {
        let runner = try await self.runner()
        let connections = try await runner.makeConnections()
        let report = await runner.run(name: name, clients: connections, request)
        for client in connections { await client.close() }
        return report
    }
}

/// The flags the watch workloads share with the others (they take no --clients or --total).
struct EndpointOptions: ParsableArguments {
    @Option(help: "Comma-separated client endpoints.") var endpoints = "127.0.0.1:2379"
    @Flag(help: "Send every request to the cluster's leader only.") var targetLeader = false
    @Flag(help: "Print the report as JSON.") var json = false

    func common(conns: Int) throws -> CommonOptions {
        try CommonOptions.parse(["--endpoints", endpoints, "--conns", "\(conns)"]
                                + (targetLeader ? ["--target-leader"] : []) + (json ? ["--json"] : []))
    }
}

struct KeyOptions: ParsableArguments {
    @Option(help: "Key size in bytes.") var keySize = 8
    @Option(help: "Value size in bytes.") var valSize = 8
    @Option(help: "Number of distinct keys.") var keySpaceSize = 1
    @Flag(help: "Write keys in order instead of at random.") var sequentialKeys = false

    func key(_ sequence: Int) -> Data {
        Workloads.key(size: keySize, sequence: sequence, keySpace: keySpaceSize, sequential: sequentialKeys)
    }
}

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark put.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        let keys = self.keys
        let value = Workloads.value(size: keys.valSize)
        try common.show(try await common.measure("put") { client, sequence in
            try await client.put(keys.key(sequence), value)
        })
    }
}

struct Range: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark range (get).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The key to read.") var key: String
    @Argument(help: "Range end (exclusive).") var rangeEnd: String?
    @Option(help: "l (linearizable) or s (serializable).") var consistency = "l"
    @Option(help: "Maximum number of keys returned.") var limit: Int64 = 0

    func run() async throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        if let rangeEnd { request.rangeEnd = Data(rangeEnd.utf8) }
        request.serializable = consistency == "s"
        request.limit = limit
        let prepared = request
        try common.show(try await common.measure("range (\(consistency))") { client, _ in
            _ = try await client.range(prepared)
        })
    }
}

struct TxnPut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "txn-put", abstract: "Benchmark txn with puts.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var keys: KeyOptions
    @Option(help: "Puts per transaction.") var txnOps = 1

    func run() async throws {
        let keys = self.keys
        let value = Workloads.value(size: keys.valSize)
        let ops = txnOps
        try common.show(try await common.measure("txn-put") { client, sequence in
            try await client.txn(.with { $0.success = (0..<ops).map { .put(keys.key(sequence * ops + $0), value) } })
        })
    }
}

struct TxnMixed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn-mixed", abstract: "Benchmark read-modify-write: get, then a txn guarded by mod_revision.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        let keys = self.keys
        let value = Workloads.value(size: keys.valSize)
        try common.show(try await common.measure("txn-mixed") { client, sequence in
            let key = keys.key(sequence)
            let current = try await client.get(key).kvs.first?.modRevision ?? 0
            try await client.txn(.with { txn in
                txn.compare = [.with {
                    $0.key = key
                    $0.target = .mod
                    $0.result = .equal
                    $0.modRevision = current
                }]
                txn.success = [.put(key, value)]
            })
        })
    }
}

struct WatchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-latency", abstract: "Event latency from put to every watcher.")
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "Number of gRPC connections.") var conns = 10
    @Option(help: "Number of watch streams.") var watchers = 1000
    @Option(help: "Number of puts.") var putTotal = 100
    @Option(help: "Puts per second.") var putRate = 10

    func run() async throws {
        let common = try endpoints.common(conns: conns)
        let connections = try await common.runner().makeConnections()
        let report = try await Workloads.watchLatency(connections: connections, watchers: watchers, puts: putTotal, rate: putRate)
        for connection in connections { await connection.close() }
        try common.show(report)
    }
}

struct WatchGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-get",
        abstract: "Serializable gets while many watchers catch up on past events (etcd's watch-get).")
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "Number of gRPC connections.") var conns = 1
    @Option(help: "Total number of watchers.") var watchers = 10_000
    @Option(help: "Number of watch streams the watchers share.") var streams = 1
    @Option(help: "Number of events every watcher catches up on.") var events = 8

    func run() async throws {
        let common = try endpoints.common(conns: conns)
        let runner = try await common.runner()
        let connections = try await runner.makeConnections()
        let getter = try await LoadConnection.connect(runner.endpoints[0])
        let report = try await Workloads.watchGet(connections: connections, getter: getter, watchers: watchers,
                                                  streams: streams, events: events)
        for connection in connections + [getter] { await connection.close() }
        try common.show(report)
    }
}

struct LeaseKeepalive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease-keepalive", abstract: "Benchmark lease keep-alives: one lease per client, renewed once per request.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let runner = try await common.runner()
        let connections = try await runner.makeConnections()
        var leases: [Int64] = []
        for index in 0..<max(common.clients, 1) {
            leases.append(try await connections[index % connections.count].leaseGrant(ttl: 100).id)
        }
        let granted = leases
        let report = await runner.run(name: "lease-keepalive", clients: connections) { connection, sequence in
            let answer = try await connection.leaseKeepAliveOnce(granted[sequence % granted.count])
            // etcd answers an unknown lease with TTL 0 rather than an error.
            if answer.ttl <= 0 { throw LoadError.leaseNotFound(answer.id) }
        }
        for connection in connections { await connection.close() }
        try common.show(report)
    }
}

enum LoadError: Error, CustomStringConvertible {
    case leaseNotFound(Int64)
    case noLeader([String])

    var description: String {
        switch self {
        case .leaseNotFound(let id): "lease \(id) not found"
        case .noLeader(let endpoints): "no leader among \(endpoints.joined(separator: ","))"
        }
    }
}
