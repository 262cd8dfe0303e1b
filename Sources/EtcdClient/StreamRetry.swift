import GRPCCore

/// Whether a long-lived stream (watch, lease keep-alive) that ended with `error` should be opened
/// again on the next endpoint: yes for transport failures and etcd's "try again" answers, no for
/// errors that would recur (bad request, permission, compaction).
func isTransientStreamError(_ error: any Error) -> Bool {
    guard let rpcError = error as? RPCError else { return false }
    let etcdError = EtcdError(rpcError)
    if etcdError.code != .other { return etcdError.grpcCode == .unavailable }
    switch rpcError.code {
    case .unavailable, .internalError, .unknown, .deadlineExceeded, .cancelled: return true
    default: return false
    }
}

/// Exponential backoff between reconnection attempts of one stream.
struct StreamBackoff {
    private let maximum: Duration
    private var next: Duration = .milliseconds(50)

    init(maximum: Duration) { self.maximum = maximum }

    /// Waits for the current delay and doubles it for the next failure.
    mutating func wait() async throws {
        try await Task.sleep(for: next)
        next = min(next * 2, maximum)
    }

    /// A stream was (re)established: the next failure waits the shortest delay again.
    mutating func reset() { next = .milliseconds(50) }
}
