import EtcdServer
import Foundation
import Testing
import TestSupport

/// etcd 3.4.23's command line: defaults, Go's flag syntax, ETCD_* variables, etcd's checks and
/// messages. Where Debian's etcd is installed, the differential tests run it with the same bad
/// arguments (it exits before starting) and require the same stderr and exit status.
@Suite struct EtcdCommandLineTests {
    static let defaultWarnings = [
        "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead",
        "no data-dir provided, using default data-dir ./default.etcd",
    ]

    // MARK: Defaults

    @Test func defaultsMatchEtcd() throws {
        let (config, warnings) = try run([])
        #expect(warnings == Self.defaultWarnings)
        #expect(config.name == "default")
        #expect(config.dataDir == "default.etcd")
        #expect(config.walDir == nil)
        #expect(config.listenClientURLs == ["http://localhost:2379"])
        #expect(config.advertiseClientURLs == ["http://localhost:2379"])
        #expect(config.listenPeerURLs == ["http://localhost:2380"])
        #expect(config.initialAdvertisePeerURLs == ["http://localhost:2380"])
        #expect(config.initialCluster == [InitialClusterMember(name: "default", url: "http://localhost:2380")])
        #expect(config.initialClusterIsDefault)
        #expect(config.initialClusterState == .new)
        #expect(config.initialClusterToken == "etcd-cluster")
        #expect(config.snapshotCount == 100_000)
        #expect(config.heartbeatIntervalMilliseconds == 100)
        #expect(config.electionTimeoutMilliseconds == 1000)
        #expect(config.quotaBackendBytes == 0)
        #expect(config.maxRequestBytes == 1_572_864)
        #expect(config.maxTxnOps == 128)
        #expect(config.maxConcurrentStreams == UInt32.max)
        #expect(config.autoCompactionMode == .periodic)
        #expect(config.autoCompactionRetention == "0")
        #expect(config.strictReconfigCheck)
        #expect(!config.experimentalInitialCorruptCheck)
        #expect(!config.forceNewCluster)
        #expect(!config.enableV2)
        #expect(config.logger == "capnslog")
        #expect(config.logLevel == "info")
        #expect(config.logOutputs == ["default"])
        #expect(!config.debug)
        #expect(config.grpcKeepAliveMinTime == .seconds(5))
        #expect(config.grpcKeepAliveInterval == .seconds(7200))
        #expect(config.grpcKeepAliveTimeout == .seconds(20))
        #expect(config.authToken == "simple")
        #expect(config.certFile.isEmpty && config.peerCertFile.isEmpty && !config.autoTLS && !config.peerAutoTLS)
        #expect(config.listenMetricsURLs.isEmpty)
        #expect(!config.enablePprof)
        #expect(config.cors == ["*"] && config.hostWhitelist == ["*"])
        #expect(config.ignoredFlags.isEmpty)
        #expect(config.environmentVariablesUsed.isEmpty)
    }

    @Test func dataDirDefaultsToTheName() throws {
        let (config, warnings) = try run(["--name", "infra1"])
        #expect(config.dataDir == "infra1.etcd")
        #expect(warnings.last == "no data-dir provided, using default data-dir ./infra1.etcd")
        let (given, givenWarnings) = try run(["--name", "infra1", "--data-dir", "/var/lib/etcd", "--wal-dir", "/wal"])
        #expect(given.dataDir == "/var/lib/etcd")
        #expect(given.walDir == "/wal")
        #expect(!givenWarnings.contains { $0.hasPrefix("no data-dir") })
        #expect(try run(["--data-dir", ""]).config.dataDir == "default.etcd")
    }

    // MARK: Go's flag syntax

    @Test(arguments: [
        ["--name", "n1"], ["--name=n1"], ["-name", "n1"], ["-name=n1"],
    ])
    func valueFlagSyntaxes(arguments: [String]) throws {
        #expect(try run(arguments).config.name == "n1")
    }

    @Test func booleanSyntaxes() throws {
        #expect(try run(["--enable-v2"]).config.enableV2)
        #expect(try run(["-enable-v2"]).config.enableV2)
        #expect(try run(["--enable-v2=true"]).config.enableV2)
        #expect(try run(["--enable-v2=1"]).config.enableV2)
        #expect(try run(["--enable-v2=T"]).config.enableV2)
        #expect(try !run(["--strict-reconfig-check=false"]).config.strictReconfigCheck)
        #expect(try !run(["-strict-reconfig-check=0"]).config.strictReconfigCheck)
        // A boolean never takes the next argument, which is then a stray argument.
        #expect(failure(["--enable-v2", "false"])
            == .init("error verifying flags, 'false' is not a valid flag. See 'etcd --help'.", 1))
    }

    @Test func lastOccurrenceWins() throws {
        #expect(try run(["--name", "a", "--name=b"]).config.name == "b")
    }

    @Test func valueFlagTakesTheNextArgumentWhateverItIs() throws {
        #expect(try run(["--initial-cluster-token", "--name"]).config.initialClusterToken == "--name")
    }

    @Test func doubleDashEndsTheFlags() throws {
        #expect(try run(["--name", "a", "--"]).config.name == "a")
        #expect(failure(["--", "--name", "a"])
            == .init("error verifying flags, '--name' is not a valid flag. See 'etcd --help'.", 1))
    }

    @Test func strayArgumentsAreRejected() {
        #expect(failure(["foo"]) == .init("error verifying flags, 'foo' is not a valid flag. See 'etcd --help'.", 1))
        #expect(failure(["-"]) == .init("error verifying flags, '-' is not a valid flag. See 'etcd --help'.", 1))
        #expect(failure(["--name", "a", "b", "--foo"])
            == .init("error verifying flags, 'b' is not a valid flag. See 'etcd --help'.", 1))
    }

    @Test func commandLineErrorsPrintTheUsageAndExitWith2() {
        let usage = EtcdCommandLine.usageText + "\n"
        #expect(failure(["--foo"]) == .init("flag provided but not defined: -foo\n" + usage, 2))
        #expect(failure(["-foo=1"]) == .init("flag provided but not defined: -foo\n" + usage, 2))
        #expect(failure(["---foo"]) == .init("bad flag syntax: ---foo\n" + usage, 2))
        #expect(failure(["--=x"]) == .init("bad flag syntax: --=x\n" + usage, 2))
        #expect(failure(["--name"]) == .init("flag needs an argument: -name\n" + usage, 2))
        #expect(failure(["--enable-v2=maybe"])
            == .init("invalid boolean value \"maybe\" for -enable-v2: parse error\n" + usage, 2))
        #expect(failure(["--snapshot-count=abc"])
            == .init("invalid value \"abc\" for flag -snapshot-count: parse error\n" + usage, 2))
        #expect(failure(["--snapshot-count", "99999999999999999999"])
            == .init("invalid value \"99999999999999999999\" for flag -snapshot-count: value out of range\n" + usage, 2))
        #expect(failure(["--heartbeat-interval=-1"])
            == .init("invalid value \"-1\" for flag -heartbeat-interval: parse error\n" + usage, 2))
        #expect(failure(["--max-concurrent-streams=5000000000"]) == .init(
            "invalid value \"5000000000\" for flag -max-concurrent-streams: strconv.ParseUint: parsing \"5000000000\": value out of range\n"
                + usage, 2))
        #expect(failure(["--initial-cluster-state=bad"])
            == .init("invalid value \"bad\" for flag -initial-cluster-state: invalid value\n" + usage, 2))
        #expect(failure(["--grpc-keepalive-min-time=5"])
            == .init("invalid value \"5\" for flag -grpc-keepalive-min-time: parse error\n" + usage, 2))
        #expect(failure(["--name=a\tb", "--foo"]) == .init("flag provided but not defined: -foo\n" + usage, 2))
    }

    @Test func usageTextIsEtcds() {
        #expect(EtcdCommandLine.usageText.hasPrefix("Usage:\n\n  etcd [flags]\n"))
        #expect(EtcdCommandLine.usageText.hasSuffix("Run the stateless etcd v3 gRPC L7 reverse proxy.\n"))
    }

    // MARK: Numbers and durations as Go parses them

    @Test func numbersTakeGoPrefixesAndUnderscores() throws {
        let (config, _) = try run([
            "--snapshot-count=0x10", "--max-txn-ops=1_000", "--max-request-bytes=0o17", "--quota-backend-bytes=-1",
            "--max-concurrent-streams=0b101", "--backend-batch-limit=010",
        ])
        #expect(config.snapshotCount == 16)
        #expect(config.maxTxnOps == 1000)
        #expect(config.maxRequestBytes == 15)
        #expect(config.quotaBackendBytes == -1)
        #expect(config.maxConcurrentStreams == 5)
        #expect(config.backendBatchLimit == 8)
        let usage = EtcdCommandLine.usageText + "\n"
        #expect(failure(["--max-txn-ops=1__0"]) == .init("invalid value \"1__0\" for flag -max-txn-ops: parse error\n" + usage, 2))
        #expect(failure(["--max-txn-ops=+5"]) == .init("invalid value \"+5\" for flag -max-txn-ops: parse error\n" + usage, 2))
        #expect(failure(["--max-txn-ops=09"]) == .init("invalid value \"09\" for flag -max-txn-ops: parse error\n" + usage, 2))
        #expect(failure(["--quota-backend-bytes=9223372036854775808"]) == .init(
            "invalid value \"9223372036854775808\" for flag -quota-backend-bytes: value out of range\n" + usage, 2))
        #expect(try run(["--quota-backend-bytes=-9223372036854775808"]).config.quotaBackendBytes == .min)
        // Go's uint goes past Int.max; such a limit means the same as Int.max.
        #expect(try run(["--max-txn-ops=18446744073709551615"]).config.maxTxnOps == .max)
    }

    @Test func durationsAreGoDurations() throws {
        let (config, _) = try run([
            "--grpc-keepalive-min-time=1.5s", "--grpc-keepalive-interval=1h30m", "--grpc-keepalive-timeout=0",
            "--experimental-warning-apply-duration=250\u{00B5}s", "--backend-batch-interval=-2ms",
        ])
        #expect(config.grpcKeepAliveMinTime == .milliseconds(1500))
        #expect(config.grpcKeepAliveInterval == .seconds(5400))
        #expect(config.grpcKeepAliveTimeout == .zero)
        #expect(config.experimentalWarningApplyDuration == .microseconds(250))
        #expect(config.backendBatchInterval == .milliseconds(-2))
        for bad in ["", "5", "1d", ".s", "1h-", "9999999999h"] {
            #expect(failure(["--grpc-keepalive-timeout=\(bad)"]) == .init(
                "invalid value \"\(bad)\" for flag -grpc-keepalive-timeout: parse error\n" + EtcdCommandLine.usageText + "\n",
                2))
        }
    }

    // MARK: URLs

    @Test func urlListsAreSortedAndCanonical() throws {
        let (config, _) = try run([
            "--listen-client-urls", " HTTP://127.0.0.1:2379 ,http://10.0.0.1:2379,unix://localhost:1",
            "--advertise-client-urls", "https://b.example:2379,https://a.example:2379",
            "--listen-metrics-urls=http://[::1]:2381",
        ])
        #expect(config.listenClientURLs == ["http://10.0.0.1:2379", "http://127.0.0.1:2379", "unix://localhost:1"])
        #expect(config.advertiseClientURLs == ["https://a.example:2379", "https://b.example:2379"])
        #expect(config.listenMetricsURLs == ["http://[::1]:2381"])
    }

    @Test func badURLsGetGoMessages() {
        let cases: [(String, String)] = [
            ("ftp://x:1", "URL scheme must be http, https, unix, or unixs: ftp://x:1"),
            ("localhost:2379", "URL scheme must be http, https, unix, or unixs: localhost:2379"),
            ("127.0.0.1:2379", "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon"),
            ("http://x", "URL address does not have the form \"host:port\": http://x"),
            ("unix:///tmp/x", "URL address does not have the form \"host:port\": unix:///tmp/x"),
            ("http://localhost:2379/", "URL must not contain a path: http://localhost:2379/"),
            ("http://localhost:abc", "parse \"http://localhost:abc\": invalid port \":abc\" after host"),
            ("http://[::1", "parse \"http://[::1\": missing ']' in host"),
            ("://x:1", "parse \"://x:1\": missing protocol scheme"),
            ("http://a b:1", "parse \"http://a b:1\": invalid character \" \" in host name"),
            ("http://127.0.0.1:1/%zz", "parse \"http://127.0.0.1:1/%zz\": invalid URL escape \"%zz\""),
            ("http://127.0.0.1%zz:1", "parse \"http://127.0.0.1%zz:1\": invalid URL escape \"%zz\""),
            ("http://127.0.0.1:1\u{01}", "parse \"http://127.0.0.1:1\\x01\": net/url: invalid control character in URL"),
            (",", "URL scheme must be http, https, unix, or unixs: "),
        ]
        for (url, reason) in cases {
            #expect(failure(["--listen-client-urls", url]) == .init(
                "invalid value \(goQuote(url)) for flag -listen-client-urls: \(reason)\n" + EtcdCommandLine.usageText + "\n",
                2), "\(url)")
        }
    }

    @Test func listenersNeedAnIPOrLocalhost() {
        for url in ["http://example.com:2379", "http://010.0.0.1:2379", "http://[fe80::1%25eth0]:2379", "http://LOCALHOST:1"] {
            #expect(failure(["--listen-client-urls", url, "--advertise-client-urls", "http://x:1"])
                == .init(Self.capnslog + "\nerror verifying flags, expected IP in URL for binding (\(url)). See 'etcd --help'.", 1))
        }
        for url in ["http://[::ffff:10.0.0.1]:1", "http://[::]:1", "http://0.0.0.0:1", "https://[2001:db8::1]:1"] {
            #expect(throws: Never.self) { try run(["--listen-peer-urls", url]) }
        }
    }

    @Test func advertisedURLsNeedAHost() {
        #expect(failure(["--advertise-client-urls=http://:2379"]) == .init(Self.capnslog
            + "\nerror verifying flags, --advertise-client-urls \"http://:2379\" must be \"host:port\" (unexpected empty host (http://:2379)). See 'etcd --help'.",
            1))
        #expect(failure(["--initial-advertise-peer-urls=http://:2380,http://a:1"]) == .init(Self.capnslog
            + "\nerror verifying flags, --initial-advertise-peer-urls \"http://:2380,http://a:1\" must be \"host:port\" (unexpected empty host (http://:2380)). See 'etcd --help'.",
            1))
    }

    @Test func listeningOnChosenClientURLsRequiresAdvertisingSome() throws {
        #expect(failure(["--listen-client-urls", "http://10.0.0.1:2379"]) == .init(Self.capnslog
            + "\nerror verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'etcd --help'."
            + "\nWhen listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client.",
            1))
        // An empty value keeps the default list but still counts as given.
        #expect(failure(["--listen-client-urls="])?.message.contains("--advertise-client-urls is required") == true)
        // A v2 proxy may leave it out, and then keeps the default.
        let (proxy, _) = try run(["--listen-client-urls", "http://10.0.0.1:2379", "--proxy", "on"])
        #expect(proxy.advertiseClientURLs == ["http://localhost:2379"])
        #expect(proxy.proxy == .on)
    }

    @Test func corsAndHostWhitelist() throws {
        let (config, _) = try run(["--cors", "http://b:1,http://a:1", "--host-whitelist", "b,a,b"])
        #expect(config.cors == ["http://a:1", "http://b:1"])
        #expect(config.hostWhitelist == ["a", "b"])
        #expect(failure(["--cors", ""]) == .init("invalid value \"\" for flag -cors: URL scheme must be http, https, unix, or unixs: \n"
            + EtcdCommandLine.usageText + "\n", 2))
    }

    // MARK: Initial cluster

    @Test func initialClusterFollowsANonDefaultName() throws {
        let (config, _) = try run([
            "--name", "n1", "--initial-advertise-peer-urls", "http://10.0.0.2:2380,http://10.0.0.1:2380",
        ])
        #expect(config.initialCluster == [
            InitialClusterMember(name: "n1", url: "http://10.0.0.1:2380"),
            InitialClusterMember(name: "n1", url: "http://10.0.0.2:2380"),
        ])
        #expect(config.initialClusterIsDefault)
        #expect(config.initialClusterURLsByName == ["n1": ["http://10.0.0.1:2380", "http://10.0.0.2:2380"]])
    }

    @Test func initialClusterStaysLocalhostForTheDefaultName() throws {
        // etcd does the same, then refuses to bootstrap because the URLs disagree.
        let (config, _) = try run(["--initial-advertise-peer-urls", "http://10.0.0.1:2380"])
        #expect(config.initialCluster == [InitialClusterMember(name: "default", url: "http://localhost:2380")])
    }

    @Test func explicitInitialCluster() throws {
        let (config, _) = try run([
            "--name", "b", "--initial-cluster", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,,a=http://10.0.0.0:2380",
            "--initial-cluster-state", "existing",
        ])
        #expect(config.initialCluster.map(\.description)
            == ["a=http://10.0.0.0:2380", "a=http://10.0.0.1:2380", "b=http://10.0.0.2:2380"])
        #expect(!config.initialClusterIsDefault)
        #expect(config.initialClusterState == .existing)
        // etcd compares the text with its default, not whether the flag was given.
        let (same, _) = try run(["--name", "c", "--initial-cluster", "default=http://localhost:2380"])
        #expect(same.initialCluster == [InitialClusterMember(name: "c", url: "http://localhost:2380")])
    }

    @Test func badInitialCluster() {
        #expect(failure(["--initial-cluster", "foo"]) == .init(Self.defaultWarnings.joined(separator: "\n")
            + "\nerror setting up initial cluster: URL scheme must be http, https, unix, or unixs: ", 1))
        #expect(failure(["--initial-cluster", "a=http://x"])?.message.hasSuffix(
            "error setting up initial cluster: URL address does not have the form \"host:port\": http://x") == true)
    }

    @Test func discoveryReplacesTheDefaultInitialCluster() throws {
        let (config, _) = try run(["--discovery", "https://discovery.etcd.io/abc"])
        #expect(config.initialCluster.isEmpty)
        #expect(config.discovery == "https://discovery.etcd.io/abc")
        #expect(config.ignoredFlags == ["discovery"])
        #expect(failure(["--discovery", "http://x:1", "--initial-cluster", "a=http://x:1"]) == .init(Self.capnslog
            + "\nerror verifying flags, multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\". See 'etcd --help'.",
            1))
    }

    @Test func defaultHostReplacesLocalhostWhenListeningEverywhere() throws {
        var (config, _) = try run([
            "--name", "n1", "--listen-peer-urls", "http://0.0.0.0:2390", "--listen-client-urls", "http://0.0.0.0:2389",
            "--advertise-client-urls", "http://localhost:2379",
        ])
        let changed = config.adoptDefaultHost("10.1.2.3")
        #expect(changed)
        #expect(config.initialAdvertisePeerURLs == ["http://10.1.2.3:2390"])
        #expect(config.advertiseClientURLs == ["http://10.1.2.3:2389"])
        #expect(config.initialCluster == [InitialClusterMember(name: "n1", url: "http://10.1.2.3:2390")])
        var (specific, _) = try run(["--listen-peer-urls", "http://127.0.0.1:2380"])
        let specificChanged = specific.adoptDefaultHost("10.1.2.3")
        #expect(!specificChanged)
    }

    // MARK: Validation

    @Test func timingChecks() {
        func verifying(_ text: String) -> CommandLineFailure {
            .init(Self.capnslog + "\nerror verifying flags, \(text). See 'etcd --help'.", 1)
        }
        #expect(failure(["--heartbeat-interval=0"]) == verifying("--heartbeat-interval must be >0 (set to 0ms)"))
        #expect(failure(["--election-timeout=0"]) == verifying("--election-timeout must be >0 (set to 0ms)"))
        #expect(failure(["--heartbeat-interval=300"])
            == verifying("--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"))
        #expect(failure(["--election-timeout=60000", "--heartbeat-interval=10000"])
            == verifying("--election-timeout[60000ms] is too long, and should be set less than 50000ms"))
        #expect(throws: Never.self) { try run(["--heartbeat-interval=200", "--election-timeout=1000"]) }
    }

    @Test func autoCompactionModeIsCheckedAfterParsing() throws {
        #expect(failure(["--auto-compaction-mode=hourly"]) == .init(Self.capnslog
            + "\nerror verifying flags, unknown auto-compaction-mode \"hourly\". See 'etcd --help'.", 1))
        #expect(try run(["--auto-compaction-mode=revision"]).config.autoCompactionMode == .revision)
    }

    @Test func autoCompactionRetention() throws {
        func value(_ retention: String, _ mode: String = "periodic") throws -> AutoCompactionRetention {
            try run(["--auto-compaction-retention", retention, "--auto-compaction-mode", mode])
                .config.autoCompactionRetentionValue
        }
        #expect(try value("0") == .disabled)
        #expect(try value("") == .disabled)
        #expect(try value("0s") == .disabled)
        #expect(try value("1") == .period(.seconds(3600)))
        #expect(try value("30m") == .period(.seconds(1800)))
        #expect(try value("1h30m") == .period(.seconds(5400)))
        #expect(try value("1000", "revision") == .revisions(1000))
        #expect(try value("0", "revision") == .disabled)
        // etcd reads a duration in revision mode as that many nanoseconds' worth of revisions.
        #expect(try value("1ms", "revision") == .revisions(1_000_000))
        let bad = try run(["--auto-compaction-retention", "abc"]).config
        #expect(throws: ConfigurationError("error parsing CompactionRetention: time: invalid duration \"abc\"")) {
            try bad.autoCompactionRetentionValue
        }
        let negative = try run(["--auto-compaction-retention", "-1"]).config
        #expect(throws: ConfigurationError("error parsing CompactionRetention: time: missing unit in duration \"-1\"")) {
            try negative.autoCompactionRetentionValue
        }
        let unit = try run(["--auto-compaction-retention", "5d"]).config
        #expect(throws: ConfigurationError("error parsing CompactionRetention: time: unknown unit \"d\" in duration \"5d\"")) {
            try unit.autoCompactionRetentionValue
        }
    }

    @Test func loggingChecksAndWarnings() throws {
        func verifying(_ text: String, warnings: [String] = [Self.capnslog]) -> CommandLineFailure {
            .init((warnings + ["error verifying flags, \(text). See 'etcd --help'."]).joined(separator: "\n"), 1)
        }
        #expect(failure(["--logger=bogus"]) == verifying("unknown logger option \"bogus\"", warnings: []))
        #expect(failure(["--log-outputs=stderr,stdout"])
            == verifying("--logger=capnslog supports only 1 value in '--log-outputs', got [\"stderr\" \"stdout\"]"))
        #expect(failure(["--log-outputs=/tmp/x"])
            == verifying("unknown log-output \"/tmp/x\" (only supports \"default\", \"stderr\", \"stdout\")"))
        #expect(failure(["--logger=zap", "--log-outputs=default,stderr"])
            == verifying("multi logoutput for \"default\" is not supported yet", warnings: []))
        #expect(failure(["--log-output=stderr", "--log-outputs=stderr"]) == verifying(
            "'--log-output=[\"stderr\"]' and '--log-outputs=[\"stderr\"]' are incompatible; only set --log-outputs",
            warnings: []))
        #expect(failure(["--log-level=bogus"]) == .init(Self.capnslog + "\npanic: unknown level \"bogus\"", 2))
        #expect(failure(["--logger=zap", "--log-level=bogus", "--debug"])?.exitCode == 2)

        let (zap, zapWarnings) = try run(["--logger=zap", "--log-outputs=stderr,/tmp/etcd.log", "--log-level=warn"])
        #expect(zap.logOutputs == ["/tmp/etcd.log", "stderr"])
        #expect(zap.logLevel == "warn")
        #expect(zapWarnings == ["no data-dir provided, using default data-dir ./default.etcd"])

        let (debug, debugWarnings) = try run(["--debug", "--log-package-levels=etcdmain=DEBUG", "--data-dir=d"])
        #expect(debug.debug)
        #expect(debugWarnings == [
            "[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead",
            "[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=info' flag",
            Self.capnslog,
            "[WARNING] Deprecated '--log-package-levels=etcdmain=DEBUG' flag is set; use '--logger=zap' flag instead",
        ])
        // capnslog never converts the level under --debug, so etcd does not notice a bad one.
        #expect(throws: Never.self) { try run(["--debug", "--log-level=bogus"]) }

        // A lone --log-output only warns; a longer one replaces --log-outputs.
        let (lone, loneWarnings) = try run(["--log-output=stderr", "--data-dir=d"])
        #expect(lone.logOutputs == ["default"])
        #expect(loneWarnings.first == "[WARNING] Deprecated '--log-output' flag is set to [\"stderr\"]\nPlease use '--log-outputs' flag")
        let (longer, longerWarnings) = try run(["--logger=zap", "--log-output=stderr,stdout", "--data-dir=d"])
        #expect(longer.logOutputs == ["stderr", "stdout"])
        #expect(longerWarnings == ["'--log-output' flag has been deprecated! Please use '--log-outputs'!"])
    }

    @Test func leaseCheckpointFlags() throws {
        #expect(failure(["--experimental-enable-lease-checkpoint-persist"]) == .init(Self.capnslog
            + "\nerror verifying flags, setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint. See 'etcd --help'.",
            1))
        let (_, warnings) = try run(["--experimental-enable-lease-checkpoint", "--data-dir=d"])
        #expect(warnings.contains(
            "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist"))
        #expect(throws: Never.self) {
            try run(["--experimental-enable-lease-checkpoint", "--experimental-enable-lease-checkpoint-persist"])
        }
    }

    // MARK: Environment

    @Test func environmentSetsFlags() throws {
        let (config, warnings) = try run([], [
            "ETCD_NAME": "env1", "ETCD_INITIAL_CLUSTER_TOKEN": "tok", "ETCD_ENABLE_V2": "true",
            "ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:2379", "ETCD_ADVERTISE_CLIENT_URLS": "http://127.0.0.1:2379",
            "ETCD_HEARTBEAT_INTERVAL": "50", "ETCD_DATA_DIR": "/d", "ETCDCTL_API": "3", "PATH": "/bin",
        ])
        #expect(config.name == "env1")
        #expect(config.initialClusterToken == "tok")
        #expect(config.enableV2)
        #expect(config.listenClientURLs == ["http://127.0.0.1:2379"])
        #expect(config.heartbeatIntervalMilliseconds == 50)
        #expect(config.initialCluster == [InitialClusterMember(name: "env1", url: "http://localhost:2380")])
        #expect(config.environmentVariablesUsed["ETCD_NAME"] == "env1")
        #expect(config.environmentVariablesUsed.count == 7)
        #expect(warnings == [Self.capnslog])
    }

    @Test func environmentCountsAsGivenFlags() {
        // Like the command line, ETCD_LISTEN_CLIENT_URLS alone needs an advertised URL too.
        #expect(failure([], ["ETCD_LISTEN_CLIENT_URLS": "http://10.0.0.1:2379"])?.message
            .contains("--advertise-client-urls is required") == true)
    }

    @Test func flagAndVariableForTheSameSettingIsFatal() {
        let message = "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
        #expect(failure(["--name", "y"], ["ETCD_NAME": "x"]) == .init(message, 1))
        // Even an empty variable, which is otherwise unused.
        #expect(failure(["--name", "y"], ["ETCD_NAME": ""]) == .init(message, 1))
        // Warnings for variables sorted before it come first.
        #expect(failure(["--name", "y"], ["ETCD_A": "1", "ETCD_NAME": "x"])
            == .init("unrecognized environment variable ETCD_A=1\n" + message, 1))
    }

    @Test func unknownAndEmptyVariablesDrawWarnings() throws {
        let (config, warnings) = try run([], ["ETCD_FOO": "bar", "ETCD_NAME": "", "ETCD_": "x", "ETCDCTL_X": "1"])
        #expect(config.name == "default")
        #expect(warnings == [
            "unrecognized environment variable ETCD_=x",
            "unrecognized environment variable ETCD_FOO=bar",
            "unrecognized environment variable ETCD_NAME=",
        ] + Self.defaultWarnings)
    }

    @Test func badVariableValuesFailAndTheLastOneIsReported() {
        #expect(failure([], ["ETCD_SNAPSHOT_COUNT": "abc", "ETCD_HEARTBEAT_INTERVAL": "x"]) == .init(
            "error verifying flags, invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error. See 'etcd --help'.", 1))
        #expect(failure([], ["ETCD_ENABLE_V2": "maybe", "ETCD_INITIAL_CLUSTER_STATE": "bad", "ETCD_X": "1"]) == .init(
            "unrecognized environment variable ETCD_X=1\n"
                + "error verifying flags, invalid value \"bad\" for ETCD_INITIAL_CLUSTER_STATE: invalid value. See 'etcd --help'.",
            1))
        #expect(failure([], ["ETCD_LISTEN_PEER_URLS": "http://x"]) == .init(
            "error verifying flags, invalid value \"http://x\" for ETCD_LISTEN_PEER_URLS: URL address does not have the form \"host:port\": http://x. See 'etcd --help'.",
            1))
    }

    @Test func versionVariableIsUsedButChangesNothing() throws {
        let (config, _) = try run([], ["ETCD_VERSION": "true"])
        #expect(config.environmentVariablesUsed == ["ETCD_VERSION": "true"])
    }

    // MARK: Obsolete, unsupported and not-yet-implemented flags

    @Test func obsoleteFlagsWarn() throws {
        let (_, warnings) = try run(["-v", "--cluster-active-size=3", "-snapshot=false", "--data-dir=d"],
                                    ["ETCD_MAX_RETRY_ATTEMPTS": "9"])
        #expect(warnings == [
            "flag \"-v\" is no longer supported - ignoring.",
            "flag \"-cluster-active-size\" is no longer supported - ignoring.",
            "flag \"-snapshot\" is no longer supported - ignoring.",
            "flag \"-max-retry-attempts\" is no longer supported - ignoring.",
            Self.capnslog,
        ])
    }

    @Test func flagsWeDoNotActOnAreListed() throws {
        let (config, _) = try run(
            ["--pre-vote", "--max-wals=0", "--name=n", "--experimental-compaction-batch-limit", "5", "--pre-vote=false",
             "--metrics=extensive", "--cert-file=c.pem"],
            ["ETCD_BCRYPT_COST": "12"])
        #expect(config.ignoredFlags
            == ["pre-vote", "max-wals", "experimental-compaction-batch-limit", "metrics", "bcrypt-cost"])
        #expect(config.maxWALs == 0)
        #expect(config.bcryptCost == 12)
        #expect(config.metrics == "extensive")
        #expect(config.experimentalCompactionBatchLimit == 5)
        #expect(config.certFile == "c.pem")
    }

    @Test func configFileAndSubcommandsAreRefused() {
        #expect(failure(["--config-file", "/etc/etcd.yml"]) == .init(
            "error verifying flags, --config-file is not supported by this etcd (\"/etc/etcd.yml\"); give the settings as flags or ETCD_* variables. See 'etcd --help'.",
            1))
        #expect(failure([], ["ETCD_CONFIG_FILE": "/etc/etcd.yml"])?.exitCode == 1)
        #expect(failure(["gateway", "start"])?.message == "etcd gateway is not supported: this etcd runs only as a cluster member")
        #expect(failure(["grpc-proxy"])?.exitCode == 1)
    }

    @Test func everyFlagHasAVariable() throws {
        for name in EtcdCommandLine.flagNames {
            #expect(EtcdCommandLine.environmentKey(name).hasPrefix("ETCD_"))
        }
        #expect(EtcdCommandLine.environmentKey("initial-cluster-token") == "ETCD_INITIAL_CLUSTER_TOKEN")
        let (config, _) = try run([], [
            "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL": "5s", "ETCD_MAX_CONCURRENT_STREAMS": "100",
            "ETCD_CLIENT_CERT_AUTH": "1", "ETCD_AUTO_COMPACTION_MODE": "revision",
        ])
        #expect(config.experimentalWatchProgressNotifyInterval == .seconds(5))
        #expect(config.maxConcurrentStreams == 100)
        #expect(config.clientCertAuth)
        #expect(config.autoCompactionMode == .revision)
    }

    // MARK: Version and help

    @Test func versionKeepsEtcdsLabels() {
        guard case .version(let text) = EtcdCommandLine.parse(arguments: ["--version"], environment: [:]) else {
            Issue.record("expected the version")
            return
        }
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == "etcd Version: 3.4.23")
        #expect(lines[1].hasPrefix("Git SHA: "))
        #expect(lines[2].hasPrefix("Go Version: "))
        #expect(lines[3].hasPrefix("Go OS/Arch: "))
        #if os(Linux) && arch(x86_64)
        #expect(lines[3] == "Go OS/Arch: linux/amd64")
        #endif
        // The version comes after the flags are parsed and checked for stray arguments.
        #expect(EtcdCommandLine.parse(arguments: ["--name=x", "-version=1"], environment: [:]) == .version(text))
        #expect(failure(["--version", "extra"])?.exitCode == 1)
        #expect(failure(["--version", "--foo"])?.exitCode == 2)
        #expect(throws: Never.self) { try run(["--version=false"]) }
    }

    @Test(arguments: [["-h"], ["--help"], ["-help"], ["--h"], ["--help=false"], ["--name", "x", "-h", "--foo"]])
    func help(arguments: [String]) {
        #expect(EtcdCommandLine.parse(arguments: arguments, environment: [:]) == .help(EtcdCommandLine.helpText))
    }

    @Test func helpListsEveryFlagWithItsDefault() {
        let help = EtcdCommandLine.helpText
        #expect(help.hasPrefix(EtcdCommandLine.usageText))
        for (flag, shown) in Self.etcdHelpFlags {
            #expect(help.contains("\n  --\(flag) '\(shown)'\n"), "\(flag)")
            #expect(EtcdCommandLine.flagNames.contains(flag), "\(flag)")
        }
    }

    /// Every flag `etcd --help` (3.4.23) lists, with the default this server shows for it.
    static let etcdHelpFlags: [(String, String)] = [
        ("name", "default"), ("data-dir", "${name}.etcd"), ("wal-dir", ""), ("snapshot-count", "100000"),
        ("heartbeat-interval", "100"), ("election-timeout", "1000"), ("initial-election-tick-advance", "true"),
        ("listen-peer-urls", "http://localhost:2380"), ("listen-client-urls", "http://localhost:2379"),
        ("max-snapshots", "5"), ("max-wals", "5"), ("quota-backend-bytes", "0"), ("backend-batch-interval", ""),
        ("backend-batch-limit", "0"), ("max-txn-ops", "128"), ("max-request-bytes", "1572864"),
        ("max-concurrent-streams", "4294967295"), ("grpc-keepalive-min-time", "5s"),
        ("grpc-keepalive-interval", "2h"), ("grpc-keepalive-timeout", "20s"),
        ("initial-advertise-peer-urls", "http://localhost:2380"),
        ("initial-cluster", "default=http://localhost:2380"), ("initial-cluster-state", "new"),
        ("initial-cluster-token", "etcd-cluster"), ("advertise-client-urls", "http://localhost:2379"),
        ("discovery", ""), ("discovery-fallback", "proxy"), ("discovery-proxy", ""), ("discovery-srv", ""),
        ("discovery-srv-name", ""), ("strict-reconfig-check", "true"), ("pre-vote", "false"),
        ("auto-compaction-retention", "0"), ("auto-compaction-mode", "periodic"), ("enable-v2", "false"),
        ("cert-file", ""), ("key-file", ""), ("client-cert-auth", "false"), ("client-crl-file", ""),
        ("client-cert-allowed-hostname", ""), ("trusted-ca-file", ""), ("auto-tls", "false"),
        ("peer-cert-file", ""), ("peer-key-file", ""), ("peer-client-cert-auth", "false"),
        ("peer-trusted-ca-file", ""), ("peer-cert-allowed-cn", ""), ("peer-cert-allowed-hostname", ""),
        ("peer-auto-tls", "false"), ("peer-crl-file", ""), ("cipher-suites", ""), ("cors", "*"),
        ("host-whitelist", "*"), ("auth-token", "simple"), ("bcrypt-cost", "10"), ("auth-token-ttl", "300"),
        ("enable-pprof", "false"), ("metrics", "basic"), ("listen-metrics-urls", ""), ("logger", "capnslog"),
        ("log-outputs", "default"), ("log-level", "info"), ("proxy", "off"), ("proxy-failure-wait", "5000"),
        ("proxy-refresh-interval", "30000"), ("proxy-dial-timeout", "1000"), ("proxy-write-timeout", "5000"),
        ("proxy-read-timeout", "0"), ("experimental-initial-corrupt-check", "false"),
        ("experimental-corrupt-check-time", "0s"), ("experimental-enable-v2v3", ""),
        ("experimental-backend-bbolt-freelist-type", "array"), ("experimental-enable-lease-checkpoint", "false"),
        ("experimental-compaction-batch-limit", "0"), ("experimental-peer-skip-client-san-verification", "false"),
        ("experimental-watch-progress-notify-interval", "0s"), ("experimental-warning-apply-duration", "100ms"),
        ("force-new-cluster", "false"), ("debug", "false"), ("log-package-levels", ""),
    ]

    // MARK: Against Debian's etcd

    @Test(.enabled(if: Reference.available))
    func helpCoversTheReferenceFlags() throws {
        let reference = try Reference.run(["--help"])
        #expect(reference.status == 0)
        #expect(reference.stderr == EtcdCommandLine.usageText + "\n")
        let listed = reference.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  --") else { return nil }
            return String(line.dropFirst(4).prefix { $0 != " " })
        }
        #expect(listed.count == Self.etcdHelpFlags.count)
        #expect(Set(listed) == Set(Self.etcdHelpFlags.map(\.0)))
        for flag in listed {
            #expect(EtcdCommandLine.helpText.contains("\n  --\(flag) '"), "\(flag)")
        }
    }

    @Test(.enabled(if: Reference.available))
    func versionLabelsMatchTheReference() throws {
        let reference = try Reference.run(["--version"])
        guard case .version(let ours) = EtcdCommandLine.parse(arguments: ["--version"], environment: [:]) else {
            Issue.record("expected the version")
            return
        }
        func labels(_ text: String) -> [Substring] { text.split(separator: "\n").map { $0.prefix { $0 != ":" } } }
        #expect(labels(ours) == labels(reference.stdout))
        #expect(reference.stdout.hasPrefix("etcd Version: \(EtcdCommandLine.etcdVersion)\n"))
    }

    /// Command-line errors: Go's flag package prints no timestamp, so stderr must match exactly.
    @Test(.enabled(if: Reference.available), arguments: [
        ["--foo"], ["-foo=1"], ["---foo"], ["--=x"], ["--name"], ["--snapshot-count=abc"],
        ["--snapshot-count=99999999999999999999"], ["--heartbeat-interval=-1"], ["--max-txn-ops=1__0"],
        ["--max-txn-ops=+5"], ["--initial-cluster-state=bad"], ["--discovery-fallback=zzz"], ["--proxy=bogus"],
        ["--listen-client-urls=ftp://x:1"], ["--listen-client-urls=http://x"], ["--listen-client-urls=127.0.0.1:2379"],
        ["--listen-client-urls=localhost:2379"], ["--listen-client-urls=http://[::1"],
        ["--listen-client-urls=http://localhost:abc"], ["--listen-client-urls=http://a b:1"],
        ["--listen-client-urls=http://localhost:2379/"], ["--listen-client-urls=://x:1"],
        ["--listen-client-urls=http://127.0.0.1:1/%zz"], ["--listen-client-urls=http://[::1]x"],
        ["--listen-peer-urls=,"], ["--cors="], ["--cors=*,http://a:1"], ["--max-concurrent-streams=5000000000"],
        ["--max-concurrent-streams=abc"], ["--enable-v2=maybe"], ["--grpc-keepalive-min-time=5"],
        ["--grpc-keepalive-min-time=1d"], ["--version", "--foo"], ["--pre-vote=yes"],
    ])
    func commandLineErrorsMatchTheReference(arguments: [String]) throws {
        let reference = try Reference.run(arguments)
        let ours = try #require(failure(arguments))
        #expect(ours.exitCode == reference.status)
        #expect(ours.message == reference.stderr)
        #expect(reference.stdout.isEmpty)
    }

    /// Errors etcd logs: the same lines once capnslog's timestamp and level prefix are removed, leaving
    /// out its informational lines, which are not warnings.
    @Test(.enabled(if: Reference.available), arguments: [
        Case(["foo"]), Case(["--name", "a", "b"]), Case(["--", "x"]), Case(["--auto-compaction-mode=zzz"]),
        Case(["--heartbeat-interval=0"]), Case(["--election-timeout=0"]), Case(["--heartbeat-interval=300"]),
        Case(["--election-timeout=60000", "--heartbeat-interval=10000"]),
        Case(["--discovery=http://x:1", "--initial-cluster=a=http://x:1"]),
        Case(["--listen-client-urls=http://10.0.0.1:2379"]),
        Case(["--listen-client-urls=http://example.com:2379", "--advertise-client-urls=http://example.com:2379"]),
        Case(["--listen-client-urls=http://010.0.0.1:2379", "--advertise-client-urls=http://x:1"]),
        Case(["--listen-peer-urls=http://[fe80::1%25eth0]:2380"]),
        Case(["--advertise-client-urls=http://:2379"]), Case(["--initial-advertise-peer-urls=http://:1,http://b:2"]),
        Case(["--logger=bogus"]), Case(["--log-outputs=stderr,stdout"]), Case(["--log-outputs=/tmp/x"]),
        Case(["--logger=zap", "--log-outputs=default,stderr"]), Case(["--log-output=stderr", "--log-outputs=stderr"]),
        Case(["--log-output=stderr", "--auto-compaction-mode=x"]),
        Case(["--debug", "--log-package-levels=etcdmain=DEBUG", "--auto-compaction-mode=x"]),
        Case(["--experimental-enable-lease-checkpoint-persist"]),
        Case(["-v", "-cluster-active-size=3", "--auto-compaction-mode=zzz"]),
        Case(["--name", "y"], ["ETCD_NAME": "x"]), Case(["--name", "y"], ["ETCD_NAME": ""]),
        Case(["--auto-compaction-mode=zzz"], ["ETCD_FOO": "bar"]),
        Case(["--auto-compaction-mode=zzz"], ["ETCD_NAME": ""]),
        Case([], ["ETCD_SNAPSHOT_COUNT": "abc", "ETCD_HEARTBEAT_INTERVAL": "x"]),
        Case([], ["ETCD_ENABLE_V2": "maybe", "ETCD_INITIAL_CLUSTER_STATE": "bad", "ETCD_": "x"]),
        Case([], ["ETCD_LISTEN_CLIENT_URLS": "http://10.0.0.1:2379"]),
        Case(["--auto-compaction-mode=zzz"], ["ETCD_V": "1"]),
        Case(["--log-level=bogus"]), Case(["--max-txn-ops=18446744073709551615", "--auto-compaction-mode=x"]),
    ])
    func loggedErrorsMatchTheReference(_ testCase: Case) throws {
        let reference = try Reference.run(testCase.arguments, environment: testCase.environment)
        let ours = try #require(failure(testCase.arguments, testCase.environment))
        #expect(ours.exitCode == reference.status)
        var lines = reference.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !Reference.isInformational($0) }.map(Reference.withoutLogPrefix)
        if lines.last == "" { lines.removeLast() }
        // A Go panic goes on with the goroutine's stack.
        if let panic = lines.firstIndex(where: { $0.hasPrefix("panic: ") }) { lines = Array(lines[...panic]) }
        #expect(ours.message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) == lines)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var environment: [String: String]

        init(_ arguments: [String], _ environment: [String: String] = [:]) {
            self.arguments = arguments
            self.environment = environment
        }

        var testDescription: String {
            (environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + arguments).joined(separator: " ")
        }
    }

    // MARK: Helpers

    static let capnslog = "[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead"

    struct CommandLineFailure: Equatable, CustomStringConvertible {
        var message: String
        var exitCode: Int32

        init(_ message: String, _ exitCode: Int32) {
            self.message = message
            self.exitCode = exitCode
        }

        var description: String { "exit \(exitCode): \(message.debugDescription)" }
    }

    struct NotRun: Error, CustomStringConvertible {
        var outcome: EtcdCommandLine.Outcome
        var description: String { "expected to run, got \(outcome)" }
    }

    private func run(_ arguments: [String], _ environment: [String: String] = [:]) throws
        -> (config: ServerConfiguration, warnings: [String])
    {
        let outcome = EtcdCommandLine.parse(arguments: arguments, environment: environment)
        guard case .run(let config, let warnings) = outcome else { throw NotRun(outcome: outcome) }
        return (config, warnings)
    }

    private func failure(_ arguments: [String], _ environment: [String: String] = [:]) -> CommandLineFailure? {
        guard case .failure(let message, let exitCode) = EtcdCommandLine.parse(arguments: arguments,
                                                                               environment: environment) else {
            return nil
        }
        return CommandLineFailure(message, exitCode)
    }

    private func goQuote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\u{01}", with: "\\x01") + "\""
    }
}

extension EtcdCommandLineTests {
    /// Debian's etcd 3.4.23, run in an empty directory with only the given environment. Every case
    /// fails before etcd starts; `timeout` stops it should one ever start a server.
    enum Reference {
        static let path = "/usr/bin/etcd"

        static var available: Bool {
            FileManager.default.isExecutableFile(atPath: path) && FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout")
        }

        static func run(_ arguments: [String], environment: [String: String] = [:]) throws
            -> (stdout: String, stderr: String, status: Int32)
        {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-command-line-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let result = try runProcess("/usr/bin/timeout", ["10", path] + arguments, environment: environment,
                                        directory: directory.path)
            return (result.stdout, result.stderr, result.exitCode)
        }

        /// "2026-11-26 05:48:10.248669 W | pkg/flags: text" → "text".
        static func withoutLogPrefix(_ line: Substring) -> String {
            if let match = line.prefixMatch(of: logPrefix) { return String(line[match.range.upperBound...]) }
            return String(line)
        }

        /// capnslog's I (info) and N (notice) lines.
        static func isInformational(_ line: Substring) -> Bool {
            guard let match = line.prefixMatch(of: logPrefix) else { return false }
            return match.output.1 == "I" || match.output.1 == "N"
        }

        private static var logPrefix: Regex<(Substring, Substring)> {
            #/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} ([A-Z]) \| [^:]+: /#
        }
    }
}
