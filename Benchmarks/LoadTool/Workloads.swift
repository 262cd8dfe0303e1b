import ArgumentParser
import EtcdProto
import Foundation
import GRPCCore
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

    /// Watch latency: `watchers` watch streams on one key, spread over `connections`, and `puts`
    /// puts to it at `rate` per second; each event's latency is the time from its put's send to
    /// its arrival, on every watcher. The streams are the lean client's: an event is decoded and
    /// timed on the connection's event loop as it arrives, with no task per stream, so the time
    /// measured is the server's more than the tool's (they share the cores).
    static func watchLatency(
        connections: [LoadConnection], watchers: Int, puts: Int, rate: Int
    ) async throws -> LoadReport {
        let key = Data("watch-latency-key".utf8)
        let name = "watch latency (\(watchers) watchers, \(puts) puts at \(rate)/s)"
        let probe = WatchLatencyProbe(puts: puts, events: watchers * puts)
        // Every watch starts after the key's current revision, so only these puts are reported.
        let startRevision = try await connections[0].get(key, serializable: true).header.revision + 1
        let create = Etcdserverpb_WatchRequest.with {
            $0.createRequest = .with {
                $0.key = key
                $0.startRevision = startRevision
            }
        }
        for index in 0..<watchers {
            try await connections[index % connections.count].connection.openStream(
                "/etcdserverpb.Watch/Watch", create,
                onMessage: { probe.received($0) }, onEnd: { probe.ended($0) })
        }
        let ready = ContinuousClock.now + .seconds(60)
        while probe.created < watchers && probe.errors.isEmpty && ContinuousClock.now < ready {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard probe.created == watchers else {
            throw ValidationError("only \(probe.created) of \(watchers) watches were created: \(probe.errors)")
        }
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        for sequence in 0..<puts {
            let due = start + .nanoseconds(Int64(Double(sequence) / Double(rate) * 1e9))
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
            probe.sending(sequence)
            try await connections[sequence % connections.count].put(key, Data("\(sequence)".utf8))
        }
        let delivered = ContinuousClock.now + .seconds(30)
        while probe.latencies.count < watchers * puts && ContinuousClock.now < delivered {
            try await Task.sleep(for: .milliseconds(10))
        }
        var report = LoadReport(name: name)
        let latencies = probe.latencies
        for latency in latencies { report.record(latency: latency) }
        report.elapsed = ContinuousClock.now - start
        for (error, count) in probe.errors { report.errors[error, default: 0] += count }
        if latencies.count < watchers * puts {
            report.errors["events not delivered within 30 s", default: 0] += watchers * puts - latencies.count
        }
        return report
    }
}

/// The watch-latency run's shared record: when each put was sent, and what the watch streams
/// received. Written from the connections' event loops.
private final class WatchLatencyProbe: Sendable {
    private struct State {
        var sent: [ContinuousClock.Instant?]
        var latencies: [Duration] = []
        var created = 0
        var errors: [String: Int] = [:]
    }

    private let state: Mutex<State>

    init(puts: Int, events: Int) {
        var initial = State(sent: Array(repeating: nil, count: puts))
        initial.latencies.reserveCapacity(events)
        state = Mutex(initial)
    }

    var created: Int { state.withLock { $0.created } }
    var latencies: [Duration] { state.withLock { $0.latencies } }
    var errors: [String: Int] { state.withLock { $0.errors } }

    func sending(_ sequence: Int) {
        state.withLock { $0.sent[sequence] = .now }
    }

    func received(_ bytes: [UInt8]) {
        let now = ContinuousClock.now
        guard let response = try? Etcdserverpb_WatchResponse(serializedBytes: bytes) else {
            return state.withLock { $0.errors["undecodable watch response", default: 0] += 1 }
        }
        state.withLock { state in
            if response.created { state.created += 1 }
            if response.canceled { state.errors["watch canceled: \(response.cancelReason)", default: 0] += 1 }
            for event in response.events {
                guard let sequence = Int(String(decoding: event.kv.value, as: UTF8.self)),
                      state.sent.indices.contains(sequence), let sentAt = state.sent[sequence] else {
                    state.errors["event for no put sent", default: 0] += 1
                    continue
                }
                state.latencies.append(now - sentAt)
            }
        }
    }

    func ended(_ error: RPCError?) {
        state.withLock { $0.errors["watch stream ended: \(error.map { "\($0.code) \($0.message)" } ?? "OK")", default: 0] += 1 }
    }
}

