import Logging

/// Decides when `--auto-compaction-mode`/`--auto-compaction-retention` call for a compaction
/// (etcd's `compactor` package): *periodic* keeps the history of the last retention period and
/// compacts every period (at most every hour); *revision* keeps the last N revisions and checks
/// every five minutes.
struct AutoCompactor {
    enum Policy {
        case disabled
        case periodic(retention: Duration, interval: Duration)
        case revisions(Int64)
    }

    private let policy: Policy
    /// (time, revision) samples, oldest first: what the revision was a retention period ago.
    private var samples: [(at: ContinuousClock.Instant, revision: Int64)] = []
    private var lastRun = ContinuousClock.now

    static let revisionCheckInterval = Duration.seconds(300)

    init(configuration: ServerConfiguration, logger: Logger) {
        do {
            switch try configuration.autoCompactionRetentionValue {
            case .disabled: policy = .disabled
            case .period(let retention):
                policy = .periodic(retention: retention, interval: min(retention, .seconds(3600)))
            case .revisions(let count): policy = count > 0 ? .revisions(count) : .disabled
            }
        } catch {
            logger.warning("etcdserver: auto compaction disabled: \(error)")
            policy = .disabled
        }
        if case .disabled = policy { return }
        logger.info("etcdserver: auto compaction enabled (\(policy))")
    }

    /// The revision to compact to now, if any.
    mutating func due(now: ContinuousClock.Instant, revision: Int64, compacted: Int64) -> Int64? {
        switch policy {
        case .disabled:
            return nil
        case .periodic(let retention, let interval):
            if samples.last.map({ now - $0.at >= retention / 10 }) ?? true { samples.append((now, revision)) }
            guard now - lastRun >= interval else { return nil }
            guard let index = samples.lastIndex(where: { now - $0.at >= retention }) else { return nil }
            let target = samples[index].revision
            samples.removeFirst(index)
            lastRun = now
            return target > compacted && target > 1 ? target : nil
        case .revisions(let keep):
            guard now - lastRun >= Self.revisionCheckInterval else { return nil }
            lastRun = now
            let target = revision - keep
            return target > compacted && target > 0 ? target : nil
        }
    }
}
