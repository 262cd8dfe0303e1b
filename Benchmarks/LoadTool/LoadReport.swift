import Foundation
import Histogram

/// What one load run measured: latencies of successful requests, errors by message, wall time.
struct LoadReport: Sendable {
    var name: String
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var errors: [String: Int] = [:]
    var elapsed: Duration = .zero
    /// Extra figures of the workload (server RSS, watch events), shown after the summary.
    var extras: [(String, String)] = []

    var succeeded: Int { Int(histogram.totalCount) }
    var requestsPerSecond: Double { Double(succeeded) / max(elapsed.seconds, 1e-9) }

    mutating func record(latency: Duration) {
        _ = histogram.record(UInt64(max(latency.nanoseconds, 1)))
    }

    mutating func merge(_ other: LoadReport) {
        histogram.add(other.histogram)
        for (message, count) in other.errors { errors[message, default: 0] += count }
    }

    func percentile(_ value: Double) -> Double { Double(histogram.valueAtPercentile(value)) / 1e9 }

    /// The report in etcd's `benchmark` layout.
    var text: String {
        var lines = ["", "Summary (\(name)):"]
        let seconds = { (value: Double) in String(format: "%.4f secs.", value) }
        lines.append("  Total:\t\(seconds(elapsed.seconds))")
        if succeeded > 0 {
            lines.append("  Slowest:\t\(seconds(Double(histogram.max) / 1e9))")
            lines.append("  Fastest:\t\(seconds(Double(histogram.min) / 1e9))")
            lines.append("  Average:\t\(seconds(histogram.mean / 1e9))")
            lines.append("  Stddev:\t\(seconds(histogram.stdDeviation / 1e9))")
        }
        lines.append(String(format: "  Requests/sec:\t%.4f", requestsPerSecond))
        if succeeded > 0 {
            lines.append("")
            lines.append("Response time histogram:")
            let fastest = Double(histogram.min), slowest = Double(histogram.max)
            let step = (slowest - fastest) / 10
            var counts = [Int](repeating: 0, count: 11)
            for bucket in histogram.recordedValues() {
                let index = step > 0 ? min(Int((Double(bucket.value) - fastest) / step), 10) : 0
                counts[max(index, 0)] += Int(bucket.count)
            }
            let most = max(counts.max() ?? 1, 1)
            for (index, count) in counts.enumerated() {
                let bar = String(repeating: "∎", count: count * 40 / most)
                lines.append(String(format: "  %.4f [%d]\t|%@", (fastest + step * Double(index)) / 1e9, count, bar))
            }
            lines.append("")
            lines.append("Latency distribution:")
            for p in [10.0, 25, 50, 75, 90, 95, 99, 99.9] {
                lines.append(String(format: "  %@%% in %.4f secs.", p == 99.9 ? "99.9" : String(Int(p)), percentile(p)))
            }
        }
        if !errors.isEmpty {
            lines.append("")
            lines.append("Error distribution:")
            for (message, count) in errors.sorted(by: { $0.value > $1.value }) { lines.append("  [\(count)]\t\(message)") }
        }
        for (label, value) in extras { lines.append("  \(label):\t\(value)") }
        return lines.joined(separator: "\n")
    }

    /// The figures as one JSON object, for scripts.
    var json: [String: Any] {
        var object: [String: Any] = [
            "name": name, "total_seconds": elapsed.seconds, "succeeded": succeeded,
            "requests_per_second": requestsPerSecond, "errors": errors,
        ]
        if succeeded > 0 {
            object["latency_seconds"] = [
                "min": Double(histogram.min) / 1e9, "max": Double(histogram.max) / 1e9, "mean": histogram.mean / 1e9,
                "stddev": histogram.stdDeviation / 1e9, "p50": percentile(50), "p90": percentile(90),
                "p99": percentile(99), "p99_9": percentile(99.9),
            ]
        }
        for (label, value) in extras { object[label] = value }
        return object
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
