import Foundation

/// One member's settings as etcd 3.4's command line and `ETCD_*` environment give them (etcd's
/// `embed.Config` plus etcdmain's v2-proxy settings); `EtcdCommandLine.parse` fills it in.
///
/// Settings keep etcd's meaning, including its "0 means the built-in default" conventions, so each
/// one reads as etcd's documentation describes it. URLs are the canonical strings etcd prints
/// (lower-case scheme, sorted the way etcd sorts them).
package struct ServerConfiguration: Sendable, Hashable {
    // MARK: Member

    package var name = "default"
    /// etcd's default is "<name>.etcd", filled in after parsing when the flag is not given.
    package var dataDir = "default.etcd"
    /// nil: the WAL lives in `<dataDir>/member/wal`.
    package var walDir: String?
    package var snapshotCount: UInt64 = 100_000
    package var heartbeatIntervalMilliseconds = 100
    package var electionTimeoutMilliseconds = 1000
    package var initialElectionTickAdvance = true
    package var listenPeerURLs = ["http://localhost:2380"]
    package var listenClientURLs = ["http://localhost:2379"]
    /// 0: keep every snapshot file.
    package var maxSnapshots = 5
    /// 0: keep every WAL file.
    package var maxWALs = 5
    /// 0: the default quota (2 GiB).
    package var quotaBackendBytes: Int64 = 0
    /// 0: the backend's default.
    package var backendBatchInterval = Duration.zero
    /// 0: the backend's default.
    package var backendBatchLimit = 0
    package var maxTxnOps = 128
    package var maxRequestBytes = 1_572_864
    package var maxConcurrentStreams = UInt32.max
    package var grpcKeepAliveMinTime = Duration.seconds(5)
    /// 0 disables the server's keepalive pings.
    package var grpcKeepAliveInterval = Duration.seconds(2 * 60 * 60)
    package var grpcKeepAliveTimeout = Duration.seconds(20)
    package var enableGRPCGateway = true

    // MARK: Clustering

    package var initialAdvertisePeerURLs = ["http://localhost:2380"]
    /// Empty when a discovery flag replaces it. Without the flag etcd derives it from the name and
    /// the advertised peer URLs, but only for a name other than "default" (see `EtcdCommandLine`).
    package var initialCluster = [InitialClusterMember(name: "default", url: "http://localhost:2380")]
    /// Whether `initialCluster` is etcd's default rather than the user's, which decides whether a
    /// detected default host rewrites it (`adoptDefaultHost`). etcd compares the flag's text with
    /// the default's, so an explicit `--initial-cluster default=http://localhost:2380` counts too.
    package var initialClusterIsDefault = true
    package var initialClusterState = ClusterState.new
    package var initialClusterToken = "etcd-cluster"
    /// Empty when `--listen-client-urls` is given without it (allowed only in proxy setups).
    package var advertiseClientURLs = ["http://localhost:2379"]
    package var discovery = ""
    package var discoveryFallback = DiscoveryFallback.proxy
    package var discoveryProxy = ""
    package var discoverySRV = ""
    package var discoverySRVName = ""
    package var strictReconfigCheck = true
    package var preVote = false
    /// The flag's text; `autoCompactionRetentionValue` interprets it as etcd does at startup.
    package var autoCompactionRetention = "0"
    package var autoCompactionMode = AutoCompactionMode.periodic
    package var enableV2 = false

    // MARK: Security

    package var certFile = ""
    package var keyFile = ""
    package var clientCertAuth = false
    package var clientCRLFile = ""
    package var clientCertAllowedHostname = ""
    package var trustedCAFile = ""
    package var autoTLS = false
    package var peerCertFile = ""
    package var peerKeyFile = ""
    package var peerClientCertAuth = false
    package var peerTrustedCAFile = ""
    package var peerCertAllowedCN = ""
    package var peerCertAllowedHostname = ""
    package var peerAutoTLS = false
    package var peerCRLFile = ""
    package var experimentalPeerSkipClientSANVerification = false
    /// Empty: Go's default suites.
    package var cipherSuites: [String] = []
    /// Sorted origins; "*" allows all.
    package var cors = ["*"]
    /// Sorted host names; "*" allows all.
    package var hostWhitelist = ["*"]

    // MARK: Auth

    package var authToken = "simple"
    package var bcryptCost = 10
    package var authTokenTTLSeconds = 300

    // MARK: Profiling and monitoring

    package var enablePprof = false
    package var metrics = "basic"
    package var listenMetricsURLs: [String] = []

    // MARK: Logging

    /// etcd 3.4.23's default is still "capnslog"; "zap" is the other choice.
    package var logger = "capnslog"
    /// Sorted and de-duplicated, as etcd keeps them.
    package var logOutputs = ["default"]
    package var logLevel = "info"
    package var debug = false
    package var logPackageLevels = ""

    // MARK: v2 proxy

    package var proxy = ProxyMode.off
    package var proxyFailureWaitMilliseconds = 5000
    package var proxyRefreshIntervalMilliseconds = 30000
    package var proxyDialTimeoutMilliseconds = 1000
    package var proxyWriteTimeoutMilliseconds = 5000
    package var proxyReadTimeoutMilliseconds = 0

    // MARK: Experimental

    package var experimentalInitialCorruptCheck = false
    /// 0: no periodic corruption check.
    package var experimentalCorruptCheckTime = Duration.zero
    package var experimentalEnableV2V3 = ""
    /// etcd's help shows "array", but the flag's real default is empty, which means the same.
    package var experimentalBackendBBoltFreelistType = ""
    package var experimentalEnableLeaseCheckpoint = false
    package var experimentalEnableLeaseCheckpointPersist = false
    /// 0: etcd's default of 1000 (its help shows 1000, but the flag's real default is 0).
    package var experimentalCompactionBatchLimit = 0
    /// 0: etcd's default of 10 minutes (its help shows 10m, but the flag's real default is 0).
    package var experimentalWatchProgressNotifyInterval = Duration.zero
    package var experimentalWarningApplyDuration = Duration.milliseconds(100)

    // MARK: Unsafe

    package var forceNewCluster = false
    package var unsafeNoFsync = false

    // MARK: What the command line did

    /// Flags given (on the command line or through `ETCD_*`) that this server accepts but does not
    /// act on yet, in the order given, so the server can warn about them.
    package var ignoredFlags: [String] = []
    /// Deliberate bugs and disk faults for the fault harness, each with its count
    /// (`SWIFT_ETCD_FAILPOINTS`); never set otherwise.
    package var failpoints: [Failpoint: Int] = [:]
    /// The `ETCD_*` variables that set a flag, which etcd logs at startup
    /// ("recognized and used environment variable KEY=value").
    package var environmentVariablesUsed: [String: String] = [:]

    package init() {}

    /// etcd's auto-compaction policy for `autoCompactionMode` and `autoCompactionRetention`
    /// (`embed.parseCompactionRetention`). A plain non-negative integer is hours (periodic) or
    /// revisions (revision); anything else must be a Go duration. As in etcd, a duration given in
    /// revision mode counts its nanoseconds as revisions, and a zero retention disables compaction.
    package var autoCompactionRetentionValue: AutoCompactionRetention {
        get throws(ConfigurationError) {
            let text = autoCompactionRetention.isEmpty ? "0" : autoCompactionRetention
            let amount: Int64
            if let integer = GoSyntax.atoi(text), integer >= 0 {
                // Go multiplies without overflow checks; wrapping keeps the same result.
                amount = autoCompactionMode == .periodic ? integer &* 3_600_000_000_000 : integer
            } else {
                switch GoSyntax.parseDuration(text) {
                case .success(let nanoseconds): amount = nanoseconds
                case .failure(let error):
                    throw ConfigurationError("error parsing CompactionRetention: \(error.message)")
                }
            }
            if amount == 0 { return .disabled }
            switch autoCompactionMode {
            case .periodic: return .period(.nanoseconds(amount))
            case .revision: return .revisions(amount)
            }
        }
    }

    /// The peer URLs of each member in `initialCluster`, sorted, as etcd's `types.URLsMap` holds
    /// them.
    package var initialClusterURLsByName: [String: [String]] {
        var byName: [String: [String]] = [:]
        for member in initialCluster { byName[member.name, default: []].append(member.url) }
        return byName.mapValues { $0.sorted() }
    }

    /// etcd advertises the machine's default-route address instead of localhost when it listens on
    /// 0.0.0.0 with the default advertise URLs (`embed.Config.UpdateDefaultClusterFromName`), and
    /// re-derives a default initial cluster from the result. Detecting that address is the
    /// server's job; this applies it (like etcd, without brackets: the address is IPv4 in
    /// practice). Returns whether anything changed.
    @discardableResult
    package mutating func adoptDefaultHost(_ host: String) -> Bool {
        var changed = false
        if initialAdvertisePeerURLs == ["http://localhost:2380"], let listen = listenPeerURLs.first,
           let port = Self.portOfUnspecifiedAddress(listen) {
            initialAdvertisePeerURLs = ["http://\(host):\(port)"]
            changed = true
        }
        if name != "default" && initialClusterIsDefault {
            let derived = Self.initialCluster(name: name, peerURLs: initialAdvertisePeerURLs)
            if derived != initialCluster { changed = true }
            initialCluster = derived
        }
        if advertiseClientURLs == ["http://localhost:2379"], let listen = listenClientURLs.first,
           let port = Self.portOfUnspecifiedAddress(listen) {
            advertiseClientURLs = ["http://\(host):\(port)"]
            changed = true
        }
        return changed
    }

    /// etcd's `InitialClusterFromName`: an empty name stands for "default".
    static func initialCluster(name: String, peerURLs: [String]) -> [InitialClusterMember] {
        let memberName = name.isEmpty ? "default" : name
        return peerURLs.map { InitialClusterMember(name: memberName, url: $0) }
    }

    private static func portOfUnspecifiedAddress(_ url: String) -> String? {
        guard let parsed = try? GoSyntax.parseURL(url).get(),
              let (host, port) = GoSyntax.splitHostPort(parsed.host), host == "0.0.0.0" else { return nil }
        return port
    }
}

/// One `name=url` pair of `--initial-cluster`; a member with several peer URLs has one pair each.
package struct InitialClusterMember: Sendable, Hashable, CustomStringConvertible {
    package var name: String
    package var url: String

    package init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    package var description: String { "\(name)=\(url)" }
}

package enum ClusterState: String, Sendable, Hashable, CaseIterable {
    case new, existing
}

package enum AutoCompactionMode: String, Sendable, Hashable, CaseIterable {
    case periodic, revision
}

package enum AutoCompactionRetention: Sendable, Hashable {
    case disabled
    /// Keep this much history (periodic mode).
    case period(Duration)
    /// Keep this many revisions (revision mode).
    case revisions(Int64)
}

/// What `--discovery-fallback` does when the discovery service turns this member away.
package enum DiscoveryFallback: String, Sendable, Hashable, CaseIterable {
    case proxy, exit
}

/// `--proxy`: etcd's v2 HTTP proxy mode.
package enum ProxyMode: String, Sendable, Hashable, CaseIterable {
    case off, readonly, on
}

/// A setting etcd accepts at parse time but rejects when it is used, with etcd's message.
package struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) { self.message = message }

    package var description: String { message }
}

/// A bug or a disk fault a test switches on, to show that the fault harness notices the bug or
/// that the member survives the fault. Set through the `SWIFT_ETCD_FAILPOINTS` environment variable:
/// comma-separated names, each optionally `=n` for the ones that strike at their `n`th occasion. The
/// server logs each one it runs with.
package enum Failpoint: String, CaseIterable, Sendable {
    /// Linearizable reads are answered from the member's own view without a ReadIndex round, so a
    /// follower (or a deposed leader) can answer with a value that was already overwritten.
    case linearizableReadsSkipReadIndex
    /// WAL writes reach the file only when synced (or by a writeback of those older than a second
    /// or past 256 KiB), so a SIGKILL loses the rest, as a power failure would: makes a kill test
    /// the fsync discipline.
    case walUnsyncedWritesLostOnKill
    /// The `n`th WAL sync fails with EIO (the member must stop rather than serve on).
    case walSyncFails
    /// The `n`th WAL write stops halfway and the process exits (a torn tail to repair).
    case walTornWrite
    /// The `n`th snapshot is written and synced to its temporary file, then the process exits
    /// before renaming it into place.
    case snapshotCrashBeforeRename
    /// A follower installing the leader's snapshot exits right after moving the file into place,
    /// before its WAL records the snapshot: its restart finds a snapshot newer than the WAL knows.
    case snapshotCrashAfterAdopt
    /// A member joining a running cluster exits right after creating its WAL, before it has heard
    /// from the leader: its restart knows the cluster only from what the join recorded.
    case crashAfterJoining

    /// The environment variable that lists them.
    package static let environmentVariable = "SWIFT_ETCD_FAILPOINTS"

    /// The failpoints `text` names, with their `n` (1 when not given); an unknown name or a count
    /// that is not a positive integer is an error.
    package static func parse(_ text: String) throws(FailpointError) -> [Failpoint: Int] {
        var failpoints: [Failpoint: Int] = [:]
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard let failpoint = Failpoint(rawValue: parts[0]) else { throw FailpointError(name: item) }
            guard let count = parts.count == 2 ? Int(parts[1]) : 1, count > 0 else { throw FailpointError(name: item) }
            failpoints[failpoint] = count
        }
        return failpoints
    }
}

package struct FailpointError: Error, CustomStringConvertible {
    package var name: String
    package var description: String {
        "unknown failpoint or bad count \(name) in \(Failpoint.environmentVariable) (known: \(Failpoint.allCases.map(\.rawValue).joined(separator: ", ")))"
    }
}
