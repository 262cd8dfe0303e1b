import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// The requests of etcd's benchmark workloads, built from the same flags.
enum Workloads {
    /// A `size`-byte key for request `sequence`: sequential or random within `keySpace`, the
    /// number big-endian at the end of a zero-filled buffer (so keys sort by number).
    static func key(size: Int, sequence: Int, keySpace: Int, sequential: Bool) -> Data {
        let number = sequential ? sequence % max(keySpace, 1) : Int.random(in: 0..<max(keySpace, 1))
        var bytes = [UInt8](repeating: 0, count: max(size, 8))
        withUnsafeBytes(of: UInt64(number).bigEndian) { raw in
            for (offset, byte) in raw.enumerated() { bytes[bytes.count - 8 + offset] = byte }
        }
        return Data(bytes.suffix(size > 0 ? size : 8))
    }

    static func value(size: Int) -> Data { Data(repeating: UInt8(ascii: "v"), count: size) }

    /// Watch latency: `watchers` watch streams on one key, `puts` puts to it; each event's latency is
    /// the time from the put's send to the event's arrival, on every watcher.
    static func watchLatency(
        clients: [EtcdClient], watchers: Int, puts: Int, rate: Int
    ) async throws -> LoadReport {
        let key = "watch-latency-key"
        let sent = SentTimes()
        let (events, sink) = AsyncStream.makeStream(of: Duration.self)
        var tasks: [Task<Void, Never>] = []
        let ready = ReadyCounter()
        for index in 0..<watchers {
            let client = clients[index % clients.count]
            tasks.append(Task {
                do {
                    let start = try await client.get(key, .serializable).header.revision + 1
                    ready.increment()
                    for try await response in client.watch(key, .startRevision(start)) {
                        let now = ContinuousClock.now
                        for event in response.events {
                            if let sentAt = sent.time(of: event.kv.value) { sink.yield(now - sentAt) }
                        }
                    }
                } catch {}
            })
        }
        while ready.value < watchers { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(500))
        let name = "watch latency (\(watchers) watchers, \(puts) puts at \(rate)/s)"
        var report = LoadReport(name: name)
        let start = ContinuousClock.now
        let collector = Task { () -> LoadReport in
            var collected = LoadReport(name: name)
            var count = 0
            for await latency in events {
                collected.record(latency: latency)
                count += 1
                if count == watchers * puts { break }
            }
            return collected
        }
        for sequence in 0..<puts {
            let due = start + .nanoseconds(Int64(Double(sequence) / Double(rate) * 1e9))
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
            let value = Data("\(sequence)".utf8)
            sent.record(value)
            _ = try await clients[sequence % clients.count].put(key, value)
        }
        let collected = try await withThrowingTaskGroup(of: LoadReport?.self) { group in
            group.addTask { await collector.value }
            group.addTask { try await Task.sleep(for: .seconds(30)); return nil }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        collector.cancel()
        tasks.forEach { $0.cancel() }
        sink.finish()
        report.merge(collected ?? LoadReport(name: report.name))
        report.elapsed = ContinuousClock.now - start
        let expected = watchers * puts
        if report.succeeded < expected { report.errors["events not delivered within 30 s", default: 0] += expected - report.succeeded }
        return report
    }
}

/// When each watch-latency put was sent, by value.
private final class SentTimes: Sendable {
    private let times = Mutex<[Data: ContinuousClock.Instant]>([:])
    func record(_ value: Data) { times.withLock { $0[value] = .now } }
    func time(of value: Data) -> ContinuousClock.Instant? { times.withLock { $0[value] } }
}

private final class ReadyCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
