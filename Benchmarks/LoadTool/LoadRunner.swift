import GRPCCore
import Foundation
import Synchronization

/// Runs `total` requests (or until `duration` passes) from `clients` concurrent workers spread over
/// `connections` client connections, optionally paced to `rate` requests per second, and measures
/// each request's latency.
struct LoadRunner {
    var endpoints: [String]
    var connections: Int
    var clients: Int
    var total: Int
    var duration: Duration?
    var rate: Int?

    /// The endpoint whose member is the leader (etcd's benchmark `--target-leader`): the one
    /// whose status names itself as leader.
    static func leader(of endpoints: [String]) async throws -> String {
        for endpoint in endpoints {
            guard let connection = try? await LoadConnection.connect(endpoint) else { continue }
            let status = try? await connection.status()
            await connection.close()
            if let status, status.leader != 0, status.leader == status.header.memberID { return endpoint }
        }
        throw LoadError.noLeader(endpoints)
    }

    /// `--conns` lean connections for the load itself, spread over the endpoints in turn.
    func makeConnections() async throws -> [LoadConnection] {
        var opened: [LoadConnection] = []
        for index in 0..<max(connections, 1) {
            opened.append(try await LoadConnection.connect(endpoints[index % endpoints.count]))
        }
        return opened
    }

    /// Runs `request(connection, sequenceNumber)` repeatedly and returns the latency report.
    func run(
        name: String,
        clients connectionClients: [LoadConnection],
        _ request: @escaping @Sendable (LoadConnection, Int) async throws -> Void
    ) async -> LoadReport {
        let next = SequenceCounter()
        let start = ContinuousClock.now
        let deadline = duration.map { start + $0 }
        let limit = duration == nil ? total : Int.max
        let rate = self.rate
        let progress = ProgressBar(total: duration == nil ? total : 0)
        var report = await withTaskGroup(of: LoadReport.self) { group in
            for worker in 0..<max(clients, 1) {
                let client = connectionClients[worker % connectionClients.count]
                group.addTask {
                    var local = LoadReport(name: name)
                    while true {
                        let sequence = next.take()
                        if sequence >= limit { break }
                        if let deadline, ContinuousClock.now >= deadline { break }
                        if let rate {
                            let due = start + .nanoseconds(Int64(Double(sequence) / Double(rate) * 1e9))
                            if due > ContinuousClock.now { try? await Task.sleep(until: due) }
                        }
                        let began = ContinuousClock.now
                        do {
                            try await request(client, sequence)
                            local.record(latency: ContinuousClock.now - began)
                        } catch let error as RPCError {
                            local.errors[error.message, default: 0] += 1
                        } catch {
                            local.errors["\(error)", default: 0] += 1
                        }
                        progress.advance()
                    }
                    return local
                }
            }
            var merged = LoadReport(name: name)
            for await partial in group { merged.merge(partial) }
            return merged
        }
        progress.finish()
        report.elapsed = ContinuousClock.now - start
        return report
    }
}

/// A progress bar on standard error when it is a terminal, like etcd's benchmark shows.
final class ProgressBar: Sendable {
    private let total: Int
    private let done = Atomic<Int>(0)
    private let enabled: Bool

    init(total: Int) {
        self.total = total
        enabled = isatty(2) != 0 && total > 0
    }

    func advance() {
        let count = done.add(1, ordering: .relaxed).newValue
        guard enabled, count % max(total / 100, 1) == 0 else { return }
        let filled = count * 40 / total
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 40 - filled)
        FileHandle.standardError.write(Data("\r \(count) / \(total) [\(bar)] \(count * 100 / total)%".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Hands out request sequence numbers to the workers.
final class SequenceCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
