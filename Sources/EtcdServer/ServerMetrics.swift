import Foundation
import Synchronization

/// The server's Prometheus metrics, under etcd's names where the concept is the same, so
/// dashboards and alerts written for etcd read them unchanged.
package final class ServerMetrics: Sendable {
    let proposalsApplied = Atomic<Int>(0)
    let proposalsPending = Atomic<Int>(0)
    let proposalsFailed = Atomic<Int>(0)
    let puts = Atomic<Int>(0)
    let deletes = Atomic<Int>(0)
    let txns = Atomic<Int>(0)
    let ranges = Atomic<Int>(0)
    let healthSuccesses = Atomic<Int>(0)
    let healthFailures = Atomic<Int>(0)
    let walFsync = Histogram(bounds: (0..<14).map { 0.001 * pow(2, Double($0)) })
    private let handled = Mutex<[HandledKey: Int]>([:])
    let startTime = Date()

    struct HandledKey: Hashable {
        var type: String
        var service: String
        var method: String
        var code: String
    }

    package init() {}

    func countApplied(_ request: InternalRequest, result: ApplyResult) {
        if case .failure = result { return }
        switch request {
        case .put: puts.add(1, ordering: .relaxed)
        case .deleteRange: deletes.add(1, ordering: .relaxed)
        case .txn: txns.add(1, ordering: .relaxed)
        default: break
        }
    }

    func countHandled(type: String, service: String, method: String, code: String) {
        handled.withLock { $0[HandledKey(type: type, service: service, method: method, code: code), default: 0] += 1 }
    }

    /// A cumulative histogram of durations in seconds, as Prometheus exposes them.
    final class Histogram: Sendable {
        let bounds: [Double]
        private let state: Mutex<(buckets: [Int], count: Int, sum: Double)>

        init(bounds: [Double]) {
            self.bounds = bounds
            state = Mutex((Array(repeating: 0, count: bounds.count), 0, 0))
        }

        func observe(_ duration: Duration) {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            state.withLock { state in
                if let bucket = bounds.firstIndex(where: { seconds <= $0 }) { state.buckets[bucket] += 1 }
                state.count += 1
                state.sum += seconds
            }
        }

        func render(name: String, help: String, into text: inout String) {
            let (buckets, count, sum) = state.withLock { $0 }
            text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            var cumulative = 0
            for (bound, bucketCount) in zip(bounds, buckets) {
                cumulative += bucketCount
                text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
            }
            text += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(sum)\n\(name)_count \(count)\n"
        }
    }

    /// Values read from the server when rendering.
    struct Gauges {
        var hasLeader: Bool
        var isLeader: Bool
        var leaderChanges: Int
        var committedIndex: UInt64
        var appliedIndex: UInt64
        var term: UInt64
        var dbSize: Int64
        var dbSizeInUse: Int64
        var keys: Int64
        var watchers: Int
        var leases: Int
        var serverVersion: String
        var clusterVersion: String
    }

    /// The Prometheus text exposition of every metric.
    func render(_ gauges: Gauges) -> String {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String, labels: String = "") {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labels) \(value)\n"
        }
        metric("etcd_server_has_leader", "gauge", "Whether or not a leader exists. 1 is existence, 0 is not.",
               gauges.hasLeader ? "1" : "0")
        metric("etcd_server_is_leader", "gauge", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
               gauges.isLeader ? "1" : "0")
        metric("etcd_server_leader_changes_seen_total", "counter", "The number of leader changes seen.",
               "\(gauges.leaderChanges)")
        metric("etcd_server_proposals_committed_total", "gauge", "The total number of consensus proposals committed.",
               "\(gauges.committedIndex)")
        metric("etcd_server_proposals_applied_total", "gauge", "The total number of consensus proposals applied.",
               "\(gauges.appliedIndex)")
        metric("etcd_server_proposals_pending", "gauge", "The current number of pending proposals to commit.",
               "\(proposalsPending.load(ordering: .relaxed))")
        metric("etcd_server_proposals_failed_total", "counter", "The total number of failed proposals seen.",
               "\(proposalsFailed.load(ordering: .relaxed))")
        metric("etcd_server_term", "gauge", "The current Raft term.", "\(gauges.term)")
        metric("etcd_server_health_success", "counter", "The total number of successful health checks",
               "\(healthSuccesses.load(ordering: .relaxed))")
        metric("etcd_server_health_failures", "counter", "The total number of failed health checks",
               "\(healthFailures.load(ordering: .relaxed))")
        metric("etcd_server_version", "gauge", "Which version is running. 1 for 'server_version' label with current version.",
               "1", labels: "{server_version=\"\(gauges.serverVersion)\"}")
        metric("etcd_cluster_version", "gauge", "Which version is running. 1 for 'cluster_version' label with current cluster version",
               "1", labels: "{cluster_version=\"\(gauges.clusterVersion)\"}")
        metric("etcd_mvcc_db_total_size_in_bytes", "gauge", "Total size of the underlying database physically allocated in bytes.",
               "\(gauges.dbSize)")
        metric("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge", "Total size of the underlying database logically in use in bytes.",
               "\(gauges.dbSizeInUse)")
        metric("etcd_debugging_mvcc_keys_total", "gauge", "Total number of keys.", "\(gauges.keys)")
        metric("etcd_debugging_mvcc_watcher_total", "gauge", "Total number of watchers.", "\(gauges.watchers)")
        metric("etcd_debugging_lease_total", "gauge", "The number of leases.", "\(gauges.leases)")
        metric("etcd_mvcc_put_total", "counter", "Total number of puts seen by this member.",
               "\(puts.load(ordering: .relaxed))")
        metric("etcd_mvcc_delete_total", "counter", "Total number of deletes seen by this member.",
               "\(deletes.load(ordering: .relaxed))")
        metric("etcd_mvcc_txn_total", "counter", "Total number of txns seen by this member.",
               "\(txns.load(ordering: .relaxed))")
        metric("etcd_mvcc_range_total", "counter", "Total number of ranges seen by this member.",
               "\(ranges.load(ordering: .relaxed))")
        walFsync.render(name: "etcd_disk_wal_fsync_duration_seconds",
                        help: "The latency distributions of fsync called by WAL.", into: &text)
        let counts = handled.withLock { $0 }.sorted {
            ($0.key.service, $0.key.method, $0.key.code) < ($1.key.service, $1.key.method, $1.key.code)
        }
        text += "# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.\n"
        text += "# TYPE grpc_server_handled_total counter\n"
        for (key, count) in counts {
            text += "grpc_server_handled_total{grpc_code=\"\(key.code)\",grpc_method=\"\(key.method)\",grpc_service=\"\(key.service)\",grpc_type=\"\(key.type)\"} \(count)\n"
        }
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               "\(startTime.timeIntervalSince1970)")
        return text
    }
}
