import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// `etcdctl check perf`: etcdctl's 60-second write check. Puts of 256-byte keys and 1 KiB values
/// under `--prefix`, paced to the load's rate, from as many clients (each its own connection) as
/// the load names; then the keys are deleted and the run passes when throughput reached 90% of
/// the rate, no request took over 500 ms, the standard deviation stayed under 100 ms, and there
/// were no errors. Output and exit codes are etcdctl's.
enum CheckCommand {
    static let perfFlags: [FlagSpec] = [
        .init(name: "load", kind: .value, defaultValue: "s"),
        .init(name: "prefix", kind: .value, defaultValue: "/etcdctl-check-perf/"),
        .init(name: "auto-compact", kind: .bool, defaultValue: "false"),
        .init(name: "auto-defrag", kind: .bool, defaultValue: "false"),
    ]

    struct Load {
        /// Writes per second.
        var rate: Int
        var clients: Int
        var seconds: Int
    }

    static let loads: [String: Load] = [
        "s": Load(rate: 150, clients: 50, seconds: 60),
        "m": Load(rate: 1000, clients: 200, seconds: 60),
        "l": Load(rate: 8000, clients: 500, seconds: 60),
        "xl": Load(rate: 15000, clients: 1000, seconds: 60),
    ]
    static let aliases = ["s": "s", "small": "s", "m": "m", "medium": "m", "l": "l", "large": "l",
                          "xl": "xl", "xLarge": "xl"]

    static func perf(_ invocation: Invocation) async throws {
        let loadName = invocation.flags["load"]
        guard let load = aliases[loadName].flatMap({ loads[$0] }) else {
            throw CommandError.badFeature("unknown load option \(loadName)")
        }
        let prefix = invocation.flags["prefix"]
        let duration = Duration.seconds(load.seconds)
        // As etcdctl: a connection per client, and no deadline on the writes themselves.
        var clients: [EtcdClient] = []
        for _ in 0..<load.clients { clients.append(try invocation.client(endpoints: invocation.endpoints, requestTimeout: duration)) }
        defer { Task { [clients] in for client in clients { await client.close() } } }
        let first = clients[0]
        let existing: Etcdserverpb_RangeResponse
        do {
            existing = try await first.get(prefix, .prefix, .limit(1))
        } catch {
            throw failure(error)
        }
        if !existing.kvs.isEmpty {
            throw CommandError.invalidInput("prefix \(goQuote(prefix)) has keys. Delete with etcdctl del --prefix \(prefix) first")
        }

        let bar = ProgressLine(total: load.seconds)
        let barTask = Task {
            for _ in 0..<load.seconds {
                try await Task.sleep(for: .seconds(1))
                bar.add()
            }
        }
        let printer = Task {
            while !Task.isCancelled {
                bar.draw()
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let pacer = Pacer(interval: .seconds(1) / load.rate, end: ContinuousClock.now + duration)
        let results = Results()
        let statsStart = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask {
                    var key = [UInt8](prefix.utf8) + [UInt8](repeating: 0, count: 256)
                    let value = Data(count: 1024)
                    while let slot = pacer.next() {
                        try? await Task.sleep(until: slot)
                        putVarint(Int64.random(in: 0..<Int64.max), into: &key, at: prefix.utf8.count)
                        let start = ContinuousClock.now
                        do {
                            _ = try await client.put(Data(key), value)
                            results.record(.success(start.duration(to: .now)))
                        } catch {
                            results.record(.failure(failure(error).message))
                        }
                    }
                }
            }
        }
        let total = statsStart.duration(to: .now)
        _ = await barTask.result
        printer.cancel()
        bar.finish()

        let deleted: Etcdserverpb_DeleteRangeResponse
        do {
            deleted = try await first.delete(prefix, .prefix)
        } catch {
            throw failure(error)
        }
        if invocation.flags.bool("auto-compact") {
            let revision = deleted.header.revision
            print("Compacting with revision \(revision)")
            do { _ = try await first.compact(revision, physical: true) } catch { throw failure(error) }
            print("Compacted with revision \(revision)")
        }
        if invocation.flags.bool("auto-defrag") {
            for (index, endpoint) in invocation.endpoints.enumerated() {
                print("Defragmenting \(goQuote(endpoint))")
                do { _ = try await first.defragment(endpoint: index) } catch { throw failure(error) }
                print("Defragmented \(goQuote(endpoint))")
            }
        }

        let stats = results.summary(over: total)
        var passed = true
        if !stats.errors.isEmpty {
            print("FAIL: too many errors")
            for (message, count) in stats.errors.sorted(by: { $0.key < $1.key }) { print("FAIL: ERROR(\(message)) -> \(count)") }
            passed = false
        }
        if stats.requestsPerSecond / Double(load.rate) <= 0.9 {
            print("FAIL: Throughput too low: \(Int(stats.requestsPerSecond) + 1) writes/s")
            passed = false
        } else {
            print("PASS: Throughput is \(Int(stats.requestsPerSecond) + 1) writes/s")
        }
        if stats.slowest > 0.5 {
            print("Slowest request took too long: \(String(format: "%f", stats.slowest))s")
            passed = false
        } else {
            print("PASS: Slowest request took \(String(format: "%f", stats.slowest))s")
        }
        if stats.standardDeviation > 0.1 {
            print("Stddev too high: \(String(format: "%f", stats.standardDeviation))s")
            passed = false
        } else {
            print("PASS: Stddev is \(String(format: "%f", stats.standardDeviation))s")
        }
        if passed {
            print("PASS")
        } else {
            print("FAIL")
            flushStandardOutput()
            exit(1)
        }
    }

    /// Go's `binary.PutVarint` (zig-zag, then 7 bits a byte) at `offset`.
    static func putVarint(_ value: Int64, into bytes: inout [UInt8], at offset: Int) {
        var unsigned = UInt64(bitPattern: value) << 1
        if value < 0 { unsigned = ~unsigned }
        var index = offset
        while unsigned >= 0x80 {
            bytes[index] = UInt8(truncatingIfNeeded: unsigned) | 0x80
            unsigned >>= 7
            index += 1
        }
        bytes[index] = UInt8(unsigned)
    }
}

/// Hands out start times one `interval` apart until `end`, like a rate limiter with a burst of one:
/// a slot never lies in the past, so time when every client was busy is not made up afterwards.
private final class Pacer: Sendable {
    private let interval: Duration
    private let end: ContinuousClock.Instant
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(interval: Duration, end: ContinuousClock.Instant) {
        self.interval = interval
        self.end = end
    }

    func next() -> ContinuousClock.Instant? {
        last.withLock { last in
            let now = ContinuousClock.now
            let slot = last.map { max(now, $0 + interval) } ?? now
            guard slot < end else { return nil }
            last = slot
            return slot
        }
    }
}

/// Latencies and errors of the writes, summarised as etcd's `pkg/report` does.
private final class Results: Sendable {
    enum Outcome {
        case success(Duration)
        case failure(String)
    }

    struct Summary {
        var requestsPerSecond: Double
        var slowest: Double
        var standardDeviation: Double
        var errors: [String: Int]
    }

    private let state = Mutex<(latencies: [Double], errors: [String: Int])>(([], [:]))

    func record(_ outcome: Outcome) {
        state.withLock { state in
            switch outcome {
            case .success(let latency): state.latencies.append(latency.seconds)
            case .failure(let message): state.errors[message, default: 0] += 1
            }
        }
    }

    func summary(over total: Duration) -> Summary {
        state.withLock { state in
            let seconds = total.seconds
            let count = Double(state.latencies.count)
            let average = state.latencies.reduce(0, +) / max(count, 1)
            let variance = state.latencies.reduce(0) { $0 + ($1 - average) * ($1 - average) } / max(count, 1)
            return Summary(requestsPerSecond: count / seconds, slowest: state.latencies.max() ?? 0,
                           standardDeviation: variance.squareRoot(), errors: state.errors)
        }
    }
}

/// etcdctl's progress bar (cheggaaa/pb with the format "Bom !") on stdout: `\r 12 / 60 ` then,
/// on a terminal, a bar to its width, the percentage and the time left; a final line with the
/// time taken.
private final class ProgressLine: Sendable {
    private let total: Int
    private let started = ContinuousClock.now
    private let state = Mutex<(current: Int, changed: ContinuousClock.Instant?)>((0, nil))

    init(total: Int) { self.total = total }

    func add() {
        state.withLock { $0 = ($0.current + 1, .now) }
    }

    func draw() {
        let (current, changed) = state.withLock { $0 }
        var timeLeft = ""
        if current > 0, let changed {
            let perEntry = started.duration(to: changed) / current
            let left = perEntry * (total - current) - changed.duration(to: .now)
            let seconds = left.components.seconds
            if left > .zero && seconds > 0 { timeLeft = String(format: " %02dm%02ds", seconds / 60, seconds % 60) }
        }
        write(current: current, tail: timeLeft)
    }

    func finish() {
        let seconds = started.duration(to: .now).components.seconds
        let taken = seconds >= 60 ? "\(seconds / 60)m\(seconds % 60)s" : "\(seconds)s"
        write(current: state.withLock { $0.current }, tail: " " + taken)
        print("")
        flushStandardOutput()
    }

    private func write(current: Int, tail: String) {
        let counters = " \(current) / \(total) "
        let percent = String(format: " %6.02f%%", Double(current) * 100 / Double(total))
        var bar = ""
        let width = Self.terminalWidth()
        let size = width - (counters.count + 2 + percent.count + tail.count)
        if size > 0 {
            let filled = min(size, Int((Double(current) / Double(total) * Double(size)).rounded(.up)))
            let empty = max(0, size - filled)
            bar = "B" + (empty <= 0 ? String(repeating: "o", count: filled)
                : (filled > 0 ? String(repeating: "o", count: filled - 1) + "m" : ""))
                + String(repeating: " ", count: empty) + "!"
        }
        let line = counters + bar + percent + tail
        print("\r" + line + String(repeating: " ", count: max(0, width - line.count)), terminator: "")
        flushStandardOutput()
    }

    /// The terminal's columns; 0 when stdout is not a terminal (no bar then).
    private static func terminalWidth() -> Int {
        var size = winsize()
        guard isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 else { return 0 }
        return Int(size.ws_col)
    }
}

private extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
