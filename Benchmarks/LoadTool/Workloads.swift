import ArgumentParser
import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC
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
        while probe.timedCount < watchers * puts && ContinuousClock.now < delivered {
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

extension Workloads {
    /// etcd's watch-get: `events` puts of one key, then `watchers` watchers of that key from the
    /// first of them, on `streams` watch streams (spread over `connections`), all catching up
    /// from the history at once; meanwhile one client does serializable gets of another key on
    /// `getter`, and their latencies are the report, until every watcher has every event.
    static func watchGet(
        connections: [LoadConnection], getter: LoadConnection, watchers: Int, streams: Int, events: Int
    ) async throws -> LoadReport {
        let key = Data("watchkey".utf8)
        var firstRevision: Int64 = 0
        for index in 0..<events {
            let revision = try await connections[0].put(key, Data("\(index)".utf8)).header.revision
            if index == 0 { firstRevision = revision }
        }
        let create = Etcdserverpb_WatchRequest.with {
            $0.createRequest = .with {
                $0.key = key
                $0.startRevision = firstRevision
            }
        }
        let probe = WatchGetProbe()
        let expected = watchers * events
        let gets = Task { () -> LoadReport in
            var report = LoadReport(name: "get during watch (\(watchers) watchers on \(streams) streams, \(events) events each)")
            let start = ContinuousClock.now
            let giveUp = start + .seconds(120)
            while probe.delivered < expected && probe.errors.isEmpty && !Task.isCancelled && ContinuousClock.now < giveUp {
                let sent = ContinuousClock.now
                do {
                    _ = try await getter.get(Data("abc".utf8), serializable: true)
                    report.record(latency: ContinuousClock.now - sent)
                } catch {
                    report.errors["\(error)", default: 0] += 1
                    break
                }
            }
            report.elapsed = ContinuousClock.now - start
            return report
        }
        do {
            let streamCount = max(1, min(streams, watchers))
            var opened: [(LoadConnection, GRPCClientStream)] = []
            for index in 0..<streamCount {
                let connection = connections[index % connections.count]
                let stream = try await connection.connection.openStream(
                    "/etcdserverpb.Watch/Watch", create,
                    onMessage: { probe.received($0) }, onEnd: { probe.ended($0) })
                opened.append((connection, stream))
            }
            for index in streamCount..<max(watchers, streamCount) {
                let (connection, stream) = opened[index % streamCount]
                try await connection.connection.send(create, on: stream)
            }
        } catch {
            gets.cancel()
            throw error
        }
        var report = await gets.value
        for (error, count) in probe.errors { report.errors[error, default: 0] += count }
        if probe.delivered < expected {
            report.errors["events not delivered within 120 s", default: 0] += expected - probe.delivered
        }
        return report
    }
}

/// What the watch-get run's streams received: events counted, and anything that went wrong.
private final class WatchGetProbe: Sendable {
    private let state = Mutex<(delivered: Int, errors: [String: Int])>((0, [:]))

    var delivered: Int { state.withLock { $0.delivered } }
    var errors: [String: Int] { state.withLock { $0.errors } }

    func received(_ bytes: [UInt8]) {
        guard let response = try? Etcdserverpb_WatchResponse(serializedBytes: bytes) else {
            return state.withLock { $0.errors["undecodable watch response", default: 0] += 1 }
        }
        state.withLock { state in
            state.delivered += response.events.count
            if response.canceled { state.errors["watch canceled: \(response.cancelReason)", default: 0] += 1 }
        }
    }

    func ended(_ error: RPCError?) {
        state.withLock { $0.errors[watchStreamEnd(error), default: 0] += 1 }
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
    /// How many events were timed so far. Polled while events arrive: taking the array itself
    /// would make the next append on an event loop copy all of it.
    var timedCount: Int { state.withLock { $0.latencies.count } }
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
        state.withLock { $0.errors[watchStreamEnd(error), default: 0] += 1 }
    }
}


/// How a watch stream's end is counted: every stream of these runs must last until it is closed.
private func watchStreamEnd(_ error: RPCError?) -> String {
    "watch stream ended: \(error.map { "\($0.code) \($0.message)" } ?? "OK")"
}
