/// etcd 3.4.23's command line for the `etcd` executable (`etcdmain/config.go`, `pkg/flags`,
/// `embed.Config.Validate`): Go's `flag` syntax, `ETCD_*` variables, and the checks etcd makes
/// before it starts, with etcd's messages and exit codes.
///
/// Where etcd writes a log line (a timestamp, a level letter and its package name in front), the
/// message here is the text after that prefix; the rest is etcd's stderr as written.
package enum EtcdCommandLine {
    /// The etcd release whose API, flags and version text this server presents.
    package static let etcdVersion = "3.4.23"

    package enum Outcome: Sendable, Hashable {
        /// Start a member. `warnings` are what etcd prints as warnings before it starts, in order.
        case run(ServerConfiguration, warnings: [String])
        /// Print to stdout (it ends with a newline) and exit 0.
        case help(String)
        /// `etcd --version`: print to stdout, adding a newline, and exit 0.
        case version(String)
        /// Write `message` to stderr, adding a newline unless it ends with one, and exit with
        /// `exitCode`: 2 for a malformed command line (Go's `flag` package), 1 for a setting etcd
        /// rejects. Warnings etcd would have printed before the error come first.
        case failure(message: String, exitCode: Int32)
    }

    /// `arguments` without the program name; `environment` is the process environment.
    package static func parse(arguments: [String], environment: [String: String]) -> Outcome {
        // etcd hands these first arguments to separate programs (cobra commands), which this
        // server does not have.
        if let command = arguments.first, command == "gateway" || command == "grpc-proxy" {
            return .failure(message: "etcd \(command) is not supported: this etcd runs only as a cluster member",
                            exitCode: 1)
        }
        var parsing = Parsing()
        if let outcome = parseCommandLine(arguments, into: &parsing) { return outcome }
        if parsing.printVersion { return .version(versionText) }

        if parsing.configFile.isEmpty { parsing.configFile = environment[environmentKey("config-file")] ?? "" }
        if !parsing.configFile.isEmpty {
            // Silently starting with other settings than the file's would be worse than refusing.
            return parsing.failure(verifying: "--config-file is not supported by this etcd "
                + "(\(GoSyntax.quote(parsing.configFile))); give the settings as flags or ETCD_* variables")
        }
        if let outcome = applyEnvironment(environment, to: &parsing) { return outcome }
        if let outcome = finish(&parsing) { return outcome }
        return .run(parsing.config, warnings: parsing.warnings)
    }

    /// Flags this server accepts, as etcd does, but does not act on yet: `ignoredFlags` lists the
    /// ones given. Remove a name here when its feature lands.
    package static let flagsNotActedOn: Set<String> = [
        "initial-election-tick-advance", "max-snapshots", "max-wals", "backend-batch-interval",
        "backend-batch-limit", "enable-grpc-gateway",
        "discovery", "discovery-fallback", "discovery-proxy", "discovery-srv", "discovery-srv-name", "pre-vote",
        "cors", "host-whitelist", "experimental-peer-skip-client-san-verification",
        "bcrypt-cost", "auth-token-ttl", "metrics", "log-package-levels",
        "proxy", "proxy-failure-wait", "proxy-refresh-interval", "proxy-dial-timeout", "proxy-write-timeout",
        "proxy-read-timeout",
        "experimental-corrupt-check-time", "experimental-enable-v2v3", "experimental-backend-bbolt-freelist-type",
        "experimental-enable-lease-checkpoint", "experimental-enable-lease-checkpoint-persist",
        "experimental-compaction-batch-limit", "experimental-watch-progress-notify-interval",
        "experimental-warning-apply-duration",
    ]

    /// Every flag name etcd's flag set defines, including the hidden and the long-obsolete ones.
    package static var flagNames: [String] { flags.map(\.name) }

    /// `pkg/flags.FlagToEnv`: `--initial-cluster-token` is `ETCD_INITIAL_CLUSTER_TOKEN`.
    package static func environmentKey(_ flag: String) -> String {
        "ETCD_" + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    // MARK: The command line

    /// Go's `flag.FlagSet.Parse`, then etcd's check that nothing but flags was given. nil: go on.
    private static func parseCommandLine(_ arguments: [String], into parsing: inout Parsing) -> Outcome? {
        let dash = UInt8(ascii: "-"), equals = UInt8(ascii: "=")
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let bytes = Array(argument.utf8)
            // Go stops at the first argument that is not a flag; etcd then rejects it.
            guard bytes.count >= 2, bytes[0] == dash else { break }
            var dashes = 1
            if bytes[1] == dash {
                dashes = 2
                if bytes.count == 2 {
                    index += 1
                    break
                }
            }
            var nameBytes = bytes[dashes...]
            if let first = nameBytes.first, first == dash || first == equals {
                return parsing.flagError("bad flag syntax: \(argument)")
            }
            index += 1
            var value: String?
            if let equalsIndex = nameBytes.dropFirst().firstIndex(of: equals) {
                value = String(decoding: nameBytes[(equalsIndex + 1)...], as: UTF8.self)
                nameBytes = nameBytes[..<equalsIndex]
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard let flag = flagsByName[name] else {
                // Go's flag package answers -h and -help itself, whatever value follows.
                if name == "help" || name == "h" { return .help(helpText) }
                return parsing.flagError("flag provided but not defined: -\(name)")
            }
            if flag.isBool {
                let text = value ?? "true"
                if let error = flag.apply(&parsing, text) {
                    return parsing.flagError("invalid boolean value \(GoSyntax.quote(text)) for -\(name): \(error)")
                }
            } else {
                if value == nil && index < arguments.count {
                    value = arguments[index]
                    index += 1
                }
                guard let value else { return parsing.flagError("flag needs an argument: -\(name)") }
                if let error = flag.apply(&parsing, value) {
                    return parsing.flagError("invalid value \(GoSyntax.quote(value)) for flag -\(name): \(error)")
                }
            }
            parsing.markGiven(name)
        }
        if index < arguments.count {
            return parsing.failure(verifying: "'\(arguments[index])' is not a valid flag")
        }
        return nil
    }

    // MARK: The environment

    /// `pkg/flags.SetFlagsFromEnv`: each flag the command line left unset takes a non-empty
    /// `ETCD_*` value; a variable for a flag the command line set is fatal, and any other `ETCD_*`
    /// variable draws a warning. Go walks the environment in the process's order, which a
    /// dictionary does not keep, so this walks it sorted.
    private static func applyEnvironment(_ environment: [String: String], to parsing: inout Parsing) -> Outcome? {
        let setOnCommandLine = Set(parsing.givenOrder.map(environmentKey))
        var used: Set<String> = []
        var lastError: String?
        for flag in flagsInGoOrder {
            let key = environmentKey(flag.name)
            guard !setOnCommandLine.contains(key), let value = environment[key], !value.isEmpty else { continue }
            used.insert(key)
            // Go keeps going after a bad value and reports the last one.
            if let error = flag.apply(&parsing, value) {
                lastError = "invalid value \(GoSyntax.quote(value)) for \(key): \(error)"
                continue
            }
            parsing.markGiven(flag.name)
            parsing.config.environmentVariablesUsed[key] = value
        }
        for (key, value) in environment.sorted(by: { GoSyntax.precedes($0.key, $1.key) }) where !used.contains(key) {
            if setOnCommandLine.contains(key) {
                return parsing.failure(
                    "conflicting environment variable \(GoSyntax.quote(key)) is shadowed by corresponding "
                        + "command-line flag (either unset environment variable or disable flag)")
            }
            if key.hasPrefix("ETCD_") { parsing.warnings.append("unrecognized environment variable \(key)=\(value)") }
        }
        if let lastError { return parsing.failure(verifying: lastError) }
        return nil
    }

    // MARK: After parsing

    /// etcdmain's `configFromCmdLine` and `embed.Config.Validate`, then what `startEtcdOrProxyV2`
    /// settles before starting: the default initial cluster and data dir. nil: ready to run.
    private static func finish(_ parsing: inout Parsing) -> Outcome? {
        parsing.config.listenPeerURLs = parsing.listenPeerURLs.urls
        parsing.config.listenClientURLs = parsing.listenClientURLs.urls
        parsing.config.initialAdvertisePeerURLs = parsing.initialAdvertisePeerURLs.urls
        parsing.config.advertiseClientURLs = parsing.advertiseClientURLs.urls
        parsing.config.listenMetricsURLs = parsing.listenMetricsURLs.urls
        parsing.config.cors = GoSyntax.sorted(Array(parsing.cors.values))

        var config: ServerConfiguration { parsing.config }
        let mayBeProxy = config.proxy != .off || (!config.discovery.isEmpty && config.discoveryFallback == .proxy)
        // A member that listens on chosen addresses must say which of them clients should use.
        let advertiseClientURLsUnset = !mayBeProxy && parsing.isGiven("listen-client-urls")
            && !parsing.isGiven("advertise-client-urls")
        if advertiseClientURLsUnset { parsing.config.advertiseClientURLs = [] }
        if (!config.discovery.isEmpty || !config.discoverySRV.isEmpty || !config.discoverySRVName.isEmpty)
            && !parsing.isGiven("initial-cluster") {
            parsing.initialCluster = ""
        }

        if let outcome = validateLogging(&parsing) { return outcome }
        for urls in [config.listenPeerURLs, config.listenClientURLs, config.listenMetricsURLs] {
            if let error = checkBindURLs(urls) { return parsing.failure(verifying: error) }
        }
        for (flag, urls) in [("initial-advertise-peer-urls", config.initialAdvertisePeerURLs),
                             ("advertise-client-urls", config.advertiseClientURLs)] {
            if let error = checkHostURLs(urls) {
                return parsing.failure(verifying:
                    "--\(flag) \(GoSyntax.quote(urls.joined(separator: ","))) must be \"host:port\" (\(error))")
            }
        }
        let bootstrapSources = [!config.discovery.isEmpty, !parsing.initialCluster.isEmpty, !config.discoverySRV.isEmpty]
        if bootstrapSources.filter({ $0 }).count > 1 {
            return parsing.failure(verifying: "multiple discovery or bootstrap flags are set. "
                + "Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\"")
        }
        let tick = config.heartbeatIntervalMilliseconds, election = config.electionTimeoutMilliseconds
        if tick <= 0 { return parsing.failure(verifying: "--heartbeat-interval must be >0 (set to \(tick)ms)") }
        if election <= 0 { return parsing.failure(verifying: "--election-timeout must be >0 (set to \(election)ms)") }
        // Go's uint arithmetic wraps; so does this.
        if UInt64(tick) &* 5 > UInt64(election) {
            return parsing.failure(verifying:
                "--election-timeout[\(election)ms] should be at least as 5 times as --heartbeat-interval[\(tick)ms]")
        }
        if election > 50_000 {
            return parsing.failure(verifying:
                "--election-timeout[\(election)ms] is too long, and should be set less than 50000ms")
        }
        if advertiseClientURLsUnset {
            return parsing.failure(
                verifying: "--advertise-client-urls is required when --listen-client-urls is set explicitly",
                "When listening on specific address(es), this etcd process must advertise accessible url(s) "
                    + "to each connected client.")
        }
        switch parsing.autoCompactionMode {
        // etcd also accepts an empty mode, which then means neither; periodic is the useful reading.
        case "": parsing.config.autoCompactionMode = .periodic
        case let text:
            guard let mode = AutoCompactionMode(rawValue: text) else {
                return parsing.failure(verifying: "unknown auto-compaction-mode \(GoSyntax.quote(text))")
            }
            parsing.config.autoCompactionMode = mode
        }
        if config.experimentalEnableLeaseCheckpoint && !config.experimentalEnableLeaseCheckpointPersist {
            // etcd 3.4.23 logs this through a logger it has not set up under capnslog and crashes;
            // zap users see the warning.
            parsing.warnings.append("Detected that checkpointing is enabled without persistence. "
                + "Consider enabling experimental-enable-lease-checkpoint-persist")
        }
        if config.experimentalEnableLeaseCheckpointPersist && !config.experimentalEnableLeaseCheckpoint {
            return parsing.failure(verifying:
                "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint")
        }

        if config.dataDir.isEmpty {
            parsing.config.dataDir = "\(config.name).etcd"
            parsing.warnings.append("no data-dir provided, using default data-dir ./\(config.dataDir)")
        }
        // etcd derives the initial cluster from the name only for a name other than "default", and
        // only when --initial-cluster still reads as its default, so `--initial-advertise-peer-urls`
        // alone leaves "default=http://localhost:2380" (and etcd then refuses to bootstrap).
        parsing.config.initialClusterIsDefault = parsing.initialCluster == defaultInitialCluster
        if config.name != "default" && config.initialClusterIsDefault {
            parsing.config.initialCluster = ServerConfiguration.initialCluster(
                name: config.name, peerURLs: config.initialAdvertisePeerURLs)
        } else {
            // etcd parses this only when it bootstraps a new member; here every start checks it.
            switch parseInitialCluster(parsing.initialCluster) {
            case .success(let members): parsing.config.initialCluster = members
            case .failure(let error): return parsing.failure("error setting up initial cluster: \(error.message)")
            }
        }
        parsing.config.ignoredFlags = parsing.givenOrder.filter(flagsNotActedOn.contains)
        return nil
    }

    /// `embed.Config.setupLogging`'s checks and the warnings it prints.
    private static func validateLogging(_ parsing: inout Parsing) -> Outcome? {
        let deprecated = parsing.deprecatedLogOutput, outputs = parsing.config.logOutputs
        if deprecated.count > outputs.count {
            parsing.warnings.append("'--log-output' flag has been deprecated! Please use '--log-outputs'!")
            parsing.config.logOutputs = deprecated
        } else if deprecated.count == outputs.count {
            if deprecated.count > 1 {
                return parsing.failure(verifying: "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'")
            }
            if deprecated == outputs && deprecated.first != "default" {
                return parsing.failure(verifying: "'--log-output=\(GoSyntax.quote(deprecated))' and "
                    + "'--log-outputs=\(GoSyntax.quote(outputs))' are incompatible; only set --log-outputs")
            }
            // Equal lengths leave --log-outputs in charge: a lone --log-output only draws this.
            if deprecated != ["default"] {
                parsing.warnings.append("[WARNING] Deprecated '--log-output' flag is set to "
                    + "\(GoSyntax.quote(deprecated))\nPlease use '--log-outputs' flag")
            }
        }
        let config = parsing.config
        if config.debug {
            parsing.warnings.append("[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead")
            if config.logLevel != "debug" {
                parsing.warnings.append("[WARNING] Deprecated '--debug' flag is set to true with inconsistent "
                    + "'--log-level=\(config.logLevel)' flag")
            }
        }
        if config.logger == "capnslog" {
            parsing.warnings.append("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead")
        }
        if !config.logPackageLevels.isEmpty {
            parsing.warnings.append("[WARNING] Deprecated '--log-package-levels=\(config.logPackageLevels)' flag is set; "
                + "use '--logger=zap' flag instead")
        }
        let levels: Set<String> = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"]
        // etcd converts the level with a function that panics on an unknown one (exit status 2);
        // capnslog skips the conversion under --debug.
        let unknownLevel = levels.contains(config.logLevel)
            ? nil : parsing.failure("panic: unknown level \(GoSyntax.quote(config.logLevel))", exitCode: 2)
        switch config.logger {
        case "capnslog":
            if let unknownLevel, !config.debug { return unknownLevel }
            guard config.logOutputs.count == 1 else {
                return parsing.failure(verifying: "--logger=capnslog supports only 1 value in '--log-outputs', "
                    + "got \(GoSyntax.quote(config.logOutputs))")
            }
            let output = config.logOutputs[0]
            guard ["default", "stderr", "stdout"].contains(output) else {
                return parsing.failure(verifying: "unknown log-output \(GoSyntax.quote(output)) "
                    + "(only supports \"default\", \"stderr\", \"stdout\")")
            }
        case "zap":
            if config.logOutputs.count > 1 && config.logOutputs.contains("default") {
                return parsing.failure(verifying: "multi logoutput for \"default\" is not supported yet")
            }
            if config.logOutputs.count > 1 && config.logOutputs.contains("systemd/journal") {
                return parsing.failure(verifying: "running with systemd/journal but other '--log-outputs' values "
                    + "(\(GoSyntax.quote(config.logOutputs))) are configured with 'default'; "
                    + "override 'default' value with something else")
            }
            if let unknownLevel { return unknownLevel }
        default:
            return parsing.failure(verifying: "unknown logger option \(GoSyntax.quote(config.logger))")
        }
        return nil
    }

    /// `embed.checkBindURLs`: a listener needs an IP address or "localhost".
    private static func checkBindURLs(_ urls: [String]) -> String? {
        for url in urls {
            guard let parsed = try? GoSyntax.parseURL(url).get() else { continue }
            if parsed.scheme == "unix" || parsed.scheme == "unixs" { continue }
            guard let (host, _) = GoSyntax.splitHostPort(parsed.host) else {
                return "address \(parsed.host): missing port in address"
            }
            if host == "localhost" { continue }
            if !GoSyntax.isIP(host) { return "expected IP in URL for binding (\(url))" }
        }
        return nil
    }

    /// `embed.checkHostURLs`: an advertised URL needs a host.
    private static func checkHostURLs(_ urls: [String]) -> String? {
        for url in urls {
            guard let parsed = try? GoSyntax.parseURL(url).get() else { continue }
            guard let (host, _) = GoSyntax.splitHostPort(parsed.host) else {
                return "address \(parsed.host): missing port in address"
            }
            if host.isEmpty { return "unexpected empty host (\(url))" }
        }
        return nil
    }

    /// `types.NewURLsMap`: comma-separated name=url pairs, a name's URLs sorted. Members come in the
    /// order their names first appear (Go's map has none).
    static func parseInitialCluster(_ text: String) -> Result<[InitialClusterMember], GoSyntax.Failure> {
        var names: [String] = []
        var urlsByName: [String: [String]] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            let name: Substring, url: Substring
            if let equals = pair.firstIndex(of: "=") {
                name = pair[..<equals]
                url = pair[pair.index(after: equals)...]
            } else {
                name = pair
                url = ""
            }
            if urlsByName[String(name)] == nil { names.append(String(name)) }
            urlsByName[String(name), default: []].append(String(url))
        }
        var members: [InitialClusterMember] = []
        for name in names {
            switch GoSyntax.newURLs(urlsByName[name] ?? []) {
            case .success(let urls): members += urls.map { InitialClusterMember(name: name, url: $0) }
            case .failure(let error): return .failure(error)
            }
        }
        return .success(members)
    }

    static let defaultInitialCluster = "default=http://localhost:2380"

    // MARK: Texts

    /// etcd's usage lines, which Go's flag package also prints after every command-line error.
    package static let usageText = """
        Usage:

          etcd [flags]
            Start an etcd server.

          etcd --version
            Show the version of etcd.

          etcd -h | --help
            Show the help information about etcd.

          etcd --config-file
            Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.

          etcd gateway
            Run the stateless pass-through etcd TCP connection forwarding proxy.

          etcd grpc-proxy
            Run the stateless etcd v3 gRPC L7 reverse proxy.

        """

    /// The usage lines, then every flag with its default, grouped as etcd's help groups them.
    package static let helpText: String = {
        var text = usageText + "\n"
        for section in HelpSection.allCases {
            text += "\n\(section.rawValue):\n"
            for flag in flags where flag.section == section {
                text += "  --\(flag.name) '\(flag.shownDefault)'\n    \(flag.summary)\n"
            }
            if section == .unsafe {
                text += "\nCAUTION: unsafe flags can break the guarantees of the consensus protocol.\n"
            }
        }
        return text
    }()

    /// `etcd --version`, with the same labels so scripts that read them keep working.
    package static var versionText: String {
        """
        etcd Version: \(etcdVersion)
        Git SHA: Not provided (swift-etcd)
        Go Version: \(compilerVersion)
        Go OS/Arch: \(operatingSystem)/\(architecture)
        """
    }

    private static var compilerVersion: String {
        #if compiler(>=6.3)
        "swift6.3"
        #elseif compiler(>=6.2)
        "swift6.2"
        #elseif compiler(>=6.1)
        "swift6.1"
        #else
        "swift6"
        #endif
    }

    /// Go's GOOS names.
    private static var operatingSystem: String {
        #if os(Linux)
        "linux"
        #elseif os(macOS)
        "darwin"
        #elseif os(FreeBSD)
        "freebsd"
        #elseif os(Windows)
        "windows"
        #else
        "unknown"
        #endif
    }

    /// Go's GOARCH names.
    private static var architecture: String {
        #if arch(x86_64)
        "amd64"
        #elseif arch(arm64)
        "arm64"
        #elseif arch(i386)
        "386"
        #elseif arch(arm)
        "arm"
        #elseif arch(s390x)
        "s390x"
        #elseif arch(powerpc64le)
        "ppc64le"
        #else
        "unknown"
        #endif
    }
}

// MARK: - Parsing state

/// What etcd's flag set holds while it parses: the configuration, plus the values that only turn
/// into settings once parsing is over.
private struct Parsing {
    var config: ServerConfiguration
    /// The flag's text; parsed (or derived from the name) only once everything is known.
    var initialCluster = EtcdCommandLine.defaultInitialCluster
    /// Checked only after parsing, like etcd's plain string flag.
    var autoCompactionMode = "periodic"
    var listenPeerURLs = UniqueURLs("http://localhost:2380", allowed: [""])
    var listenClientURLs = UniqueURLs("http://localhost:2379", allowed: [""])
    var initialAdvertisePeerURLs = UniqueURLs("http://localhost:2380", allowed: [""])
    var advertiseClientURLs = UniqueURLs("http://localhost:2379", allowed: [""])
    var listenMetricsURLs = UniqueURLs("", allowed: [""])
    var cors = UniqueURLs("*", allowed: ["*"])
    var deprecatedLogOutput = ["default"]
    var configFile = ""
    var printVersion = false
    var warnings: [String] = []
    /// Flags set on the command line or from the environment, in order (Go's "actual" flags).
    private(set) var givenOrder: [String] = []
    private var given: Set<String> = []

    init() {
        config = ServerConfiguration()
        // etcd's own default is empty; the "<name>.etcd" default comes after parsing.
        config.dataDir = ""
    }

    mutating func markGiven(_ name: String) {
        if given.insert(name).inserted { givenOrder.append(name) }
    }

    func isGiven(_ name: String) -> Bool { given.contains(name) }

    /// Go's flag package: the error, then the usage lines, exit status 2.
    func flagError(_ error: String) -> EtcdCommandLine.Outcome {
        .failure(message: (warnings + [error]).joined(separator: "\n") + "\n" + EtcdCommandLine.usageText + "\n",
                 exitCode: 2)
    }

    /// etcdmain's "error verifying flags" log line, and any line it adds.
    func failure(verifying error: String, _ more: String...) -> EtcdCommandLine.Outcome {
        .failure(message: (warnings + ["error verifying flags, \(error). See 'etcd --help'."] + more)
            .joined(separator: "\n"), exitCode: 1)
    }

    func failure(_ line: String, exitCode: Int32 = 1) -> EtcdCommandLine.Outcome {
        .failure(message: (warnings + [line]).joined(separator: "\n"), exitCode: exitCode)
    }
}

/// `pkg/flags.UniqueURLs`: a URL list flag. Setting it to one of its current URLs, or to an allowed
/// exception, keeps the list (the exception joins only the set of values).
private struct UniqueURLs {
    private(set) var urls: [String] = []
    private(set) var values: Set<String> = []
    let allowed: Set<String>

    init(_ initial: String, allowed: Set<String>) {
        self.allowed = allowed
        if !initial.isEmpty { _ = set(initial) }
    }

    /// Returns Go's error text.
    mutating func set(_ text: String) -> String? {
        if values.contains(text) { return nil }
        if allowed.contains(text) {
            values.insert(text)
            return nil
        }
        switch GoSyntax.newURLs(GoSyntax.split(text)) {
        case .success(let parsed):
            urls = parsed
            values = Set(parsed)
            return nil
        case .failure(let error):
            return error.message
        }
    }
}

// MARK: - Flags

private enum HelpSection: String, CaseIterable {
    case member = "Member"
    case clustering = "Clustering"
    case security = "Security"
    case auth = "Auth"
    case monitoring = "Profiling and Monitoring"
    case logging = "Logging"
    case proxy = "v2 Proxy (to be deprecated in v4)"
    case experimental = "Experimental feature"
    case unsafe = "Unsafe feature"
    case deprecated = "TO BE DEPRECATED"
}

/// One flag of etcd's flag set: how Go parses its value, and how help shows it (no section:
/// accepted but not listed, as in etcd).
private struct FlagDefinition: Sendable {
    let name: String
    let section: HelpSection?
    let shownDefault: String
    let summary: String
    let kind: FlagKind

    init(_ name: String, _ section: HelpSection?, _ shownDefault: String, _ summary: String, _ kind: FlagKind) {
        self.name = name
        self.section = section
        self.shownDefault = shownDefault
        self.summary = summary
        self.kind = kind
    }

    var isBool: Bool { kind.isBool }

    /// Returns the error text Go's `flag.Value.Set` would give.
    func apply(_ parsing: inout Parsing, _ text: String) -> String? { kind.apply(&parsing, text) }
}

/// The Go `flag.Value` types etcd's flags use, with their error texts.
private struct FlagKind: Sendable {
    /// Go's boolean flags take no separate argument: `--flag` or `--flag=false`.
    let isBool: Bool
    let apply: @Sendable (inout Parsing, String) -> String?

    static func custom(_ apply: @escaping @Sendable (inout Parsing, String) -> String?) -> FlagKind {
        FlagKind(isBool: false, apply: apply)
    }

    static func string(_ set: @escaping @Sendable (inout Parsing, String) -> Void) -> FlagKind {
        .custom { parsing, text in
            set(&parsing, text)
            return nil
        }
    }

    static func bool(_ set: @escaping @Sendable (inout Parsing, Bool) -> Void) -> FlagKind {
        FlagKind(isBool: true) { parsing, text in
            guard let value = GoSyntax.parseBool(text) else { return "parse error" }
            set(&parsing, value)
            return nil
        }
    }

    /// Go's `uint` (64 bits), kept as `Int`. etcd accepts values past `Int.max`; as limits and
    /// intervals they mean the same as `Int.max`, so they are clamped rather than refused.
    static func uint(_ set: @escaping @Sendable (inout Parsing, Int) -> Void) -> FlagKind {
        .custom { parsing, text in
            switch GoSyntax.parseUint(text, bitSize: 64) {
            case .failure(let error): return error.flagText
            case .success(let value):
                set(&parsing, Int(exactly: value) ?? .max)
                return nil
            }
        }
    }

    static func uint64(_ set: @escaping @Sendable (inout Parsing, UInt64) -> Void) -> FlagKind {
        .custom { parsing, text in
            switch GoSyntax.parseUint(text, bitSize: 64) {
            case .failure(let error): return error.flagText
            case .success(let value):
                set(&parsing, value)
                return nil
            }
        }
    }

    static func int(_ set: @escaping @Sendable (inout Parsing, Int64) -> Void) -> FlagKind {
        .custom { parsing, text in
            switch GoSyntax.parseInt(text, bitSize: 64) {
            case .failure(let error): return error.flagText
            case .success(let value):
                set(&parsing, value)
                return nil
            }
        }
    }

    /// etcd's own `uint32Value`, which passes strconv's error through unchanged.
    static func uint32(_ set: @escaping @Sendable (inout Parsing, UInt32) -> Void) -> FlagKind {
        .custom { parsing, text in
            switch GoSyntax.parseUint(text, bitSize: 32) {
            case .failure(let error):
                let reason = error == .syntax ? "invalid syntax" : "value out of range"
                return "strconv.ParseUint: parsing \(GoSyntax.quote(text)): \(reason)"
            case .success(let value):
                set(&parsing, UInt32(value))
                return nil
            }
        }
    }

    static func duration(_ set: @escaping @Sendable (inout Parsing, Duration) -> Void) -> FlagKind {
        .custom { parsing, text in
            guard case .success(let nanoseconds) = GoSyntax.parseDuration(text) else { return "parse error" }
            set(&parsing, .nanoseconds(nanoseconds))
            return nil
        }
    }

    /// `pkg/flags.SelectiveStringValue`: `choose` maps the text to a value, nil if not allowed.
    static func choice<Choice>(
        _ choose: @escaping @Sendable (String) -> Choice?, _ set: @escaping @Sendable (inout Parsing, Choice) -> Void
    ) -> FlagKind {
        .custom { parsing, text in
            guard let value = choose(text) else { return "invalid value" }
            set(&parsing, value)
            return nil
        }
    }

    /// `pkg/flags.IgnoredFlag`: options of etcd 0.4, accepted as booleans with a warning.
    static func obsolete(_ name: String) -> FlagKind {
        FlagKind(isBool: true) { parsing, _ in
            parsing.warnings.append("flag \"-\(name)\" is no longer supported - ignoring.")
            return nil
        }
    }
}

extension EtcdCommandLine {
    fileprivate static let flagsByName: [String: FlagDefinition] =
        Dictionary(flags.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// Go's `VisitAll` order, which decides which bad `ETCD_*` value is reported.
    fileprivate static let flagsInGoOrder = flags.sorted { GoSyntax.precedes($0.name, $1.name) }

    /// etcd 3.4.23's flag set, in the order of its help.
    fileprivate static let flags: [FlagDefinition] = [
        // Member
        FlagDefinition("name", .member, "default", "Human-readable name of this member.",
                       .string { $0.config.name = $1 }),
        FlagDefinition("data-dir", .member, "${name}.etcd", "Directory for this member's data.",
                       .string { $0.config.dataDir = $1 }),
        FlagDefinition("wal-dir", .member, "", "Separate directory for the write-ahead log (default: inside data-dir).",
                       .string { $0.config.walDir = $1.isEmpty ? nil : $1 }),
        FlagDefinition("snapshot-count", .member, "100000", "Committed transactions between snapshots to disk.",
                       .uint64 { $0.config.snapshotCount = $1 }),
        FlagDefinition("heartbeat-interval", .member, "100", "Heartbeat interval, in milliseconds.",
                       .uint { $0.config.heartbeatIntervalMilliseconds = $1 }),
        FlagDefinition("election-timeout", .member, "1000",
                       "Election timeout, in milliseconds (at least 5 heartbeats, at most 50000).",
                       .uint { $0.config.electionTimeoutMilliseconds = $1 }),
        FlagDefinition("initial-election-tick-advance", .member, "true",
                       "Fast-forward election ticks at boot so the first election comes sooner.",
                       .bool { $0.config.initialElectionTickAdvance = $1 }),
        FlagDefinition("listen-peer-urls", .member, "http://localhost:2380", "URLs to listen on for peer traffic.",
                       .custom { $0.listenPeerURLs.set($1) }),
        FlagDefinition("listen-client-urls", .member, "http://localhost:2379", "URLs to listen on for client traffic.",
                       .custom { $0.listenClientURLs.set($1) }),
        FlagDefinition("max-snapshots", .member, "5", "Snapshot files to keep (0: all).",
                       .uint { $0.config.maxSnapshots = $1 }),
        FlagDefinition("max-wals", .member, "5", "WAL files to keep (0: all).",
                       .uint { $0.config.maxWALs = $1 }),
        FlagDefinition("quota-backend-bytes", .member, "0",
                       "Backend size that raises the no-space alarm (0: the default quota, 2 GiB).",
                       .int { $0.config.quotaBackendBytes = $1 }),
        FlagDefinition("backend-batch-interval", .member, "", "Longest wait before the backend commits a batch.",
                       .duration { $0.config.backendBatchInterval = $1 }),
        FlagDefinition("backend-batch-limit", .member, "0", "Most operations before the backend commits a batch.",
                       .int { $0.config.backendBatchLimit = Int($1) }),
        FlagDefinition("max-txn-ops", .member, "128", "Most operations in one transaction.",
                       .uint { $0.config.maxTxnOps = $1 }),
        FlagDefinition("max-request-bytes", .member, "1572864", "Largest client request accepted, in bytes.",
                       .uint { $0.config.maxRequestBytes = $1 }),
        FlagDefinition("max-concurrent-streams", .member, "4294967295",
                       "Most concurrent streams per client connection.",
                       .uint32 { $0.config.maxConcurrentStreams = $1 }),
        FlagDefinition("grpc-keepalive-min-time", .member, "5s", "Shortest interval at which a client may ping.",
                       .duration { $0.config.grpcKeepAliveMinTime = $1 }),
        FlagDefinition("grpc-keepalive-interval", .member, "2h",
                       "How often the server pings an idle connection (0: never).",
                       .duration { $0.config.grpcKeepAliveInterval = $1 }),
        FlagDefinition("grpc-keepalive-timeout", .member, "20s",
                       "How long an unanswered ping keeps a connection open (0: no limit).",
                       .duration { $0.config.grpcKeepAliveTimeout = $1 }),
        FlagDefinition("enable-grpc-gateway", nil, "true", "Serve the JSON gateway to the gRPC API.",
                       .bool { $0.config.enableGRPCGateway = $1 }),

        // Clustering
        FlagDefinition("initial-advertise-peer-urls", .clustering, "http://localhost:2380",
                       "This member's peer URLs, as told to the rest of the cluster.",
                       .custom { $0.initialAdvertisePeerURLs.set($1) }),
        FlagDefinition("initial-cluster", .clustering, "default=http://localhost:2380",
                       "The members to bootstrap with, as name=peer-url pairs.",
                       .string { $0.initialCluster = $1 }),
        FlagDefinition("initial-cluster-state", .clustering, "new",
                       "'new' to bootstrap a cluster, 'existing' to join one.",
                       .choice(ClusterState.init) { $0.config.initialClusterState = $1 }),
        FlagDefinition("initial-cluster-token", .clustering, "etcd-cluster",
                       "Token that keeps clusters bootstrapped side by side apart.",
                       .string { $0.config.initialClusterToken = $1 }),
        FlagDefinition("advertise-client-urls", .clustering, "http://localhost:2379",
                       "This member's client URLs, as told to clients; required with --listen-client-urls.",
                       .custom { $0.advertiseClientURLs.set($1) }),
        FlagDefinition("discovery", .clustering, "", "Discovery service URL to bootstrap from.",
                       .string { $0.config.discovery = $1 }),
        FlagDefinition("discovery-fallback", .clustering, "proxy",
                       "What to do when discovery fails: 'exit' or 'proxy' (v2 API only).",
                       .choice(DiscoveryFallback.init) { $0.config.discoveryFallback = $1 }),
        FlagDefinition("discovery-proxy", .clustering, "", "HTTP proxy for reaching the discovery service.",
                       .string { $0.config.discoveryProxy = $1 }),
        FlagDefinition("discovery-srv", .clustering, "", "DNS domain whose SRV records list the cluster.",
                       .string { $0.config.discoverySRV = $1 }),
        FlagDefinition("discovery-srv-name", .clustering, "", "Suffix of the SRV name looked up for discovery.",
                       .string { $0.config.discoverySRVName = $1 }),
        FlagDefinition("strict-reconfig-check", .clustering, "true",
                       "Refuse membership changes that would lose quorum.",
                       .bool { $0.config.strictReconfigCheck = $1 }),
        FlagDefinition("pre-vote", .clustering, "false", "Run Raft's pre-vote phase before elections.",
                       .bool { $0.config.preVote = $1 }),
        FlagDefinition("auto-compaction-retention", .clustering, "0",
                       "History auto-compaction keeps (0: no auto-compaction).",
                       .string { $0.config.autoCompactionRetention = $1 }),
        FlagDefinition("auto-compaction-mode", .clustering, "periodic",
                       "'periodic': the retention is a duration, hours when it has no unit (e.g. '5m'); "
                           + "'revision': a number of revisions.",
                       .string { $0.autoCompactionMode = $1 }),
        FlagDefinition("enable-v2", .clustering, "false", "Serve etcd v2 client requests.",
                       .bool { $0.config.enableV2 = $1 }),

        // Security
        FlagDefinition("cert-file", .security, "", "TLS certificate for client connections.",
                       .string { $0.config.certFile = $1 }),
        FlagDefinition("key-file", .security, "", "TLS key for client connections.",
                       .string { $0.config.keyFile = $1 }),
        FlagDefinition("client-cert-auth", .security, "false", "Require client certificates from clients.",
                       .bool { $0.config.clientCertAuth = $1 }),
        FlagDefinition("client-crl-file", .security, "", "Revoked client certificates (CRL file).",
                       .string { $0.config.clientCRLFile = $1 }),
        FlagDefinition("client-cert-allowed-hostname", .security, "",
                       "Host name a client certificate must carry.",
                       .string { $0.config.clientCertAllowedHostname = $1 }),
        FlagDefinition("trusted-ca-file", .security, "", "CA certificates for verifying clients.",
                       .string { $0.config.trustedCAFile = $1 }),
        FlagDefinition("auto-tls", .security, "false", "Serve clients TLS with a generated certificate.",
                       .bool { $0.config.autoTLS = $1 }),
        FlagDefinition("peer-cert-file", .security, "", "TLS certificate for peer connections.",
                       .string { $0.config.peerCertFile = $1 }),
        FlagDefinition("peer-key-file", .security, "", "TLS key for peer connections.",
                       .string { $0.config.peerKeyFile = $1 }),
        FlagDefinition("peer-client-cert-auth", .security, "false", "Require client certificates from peers.",
                       .bool { $0.config.peerClientCertAuth = $1 }),
        FlagDefinition("peer-trusted-ca-file", .security, "", "CA certificates for verifying peers.",
                       .string { $0.config.peerTrustedCAFile = $1 }),
        FlagDefinition("peer-cert-allowed-cn", .security, "", "Common name a peer's certificate must carry.",
                       .string { $0.config.peerCertAllowedCN = $1 }),
        FlagDefinition("peer-cert-allowed-hostname", .security, "", "Host name a peer's certificate must carry.",
                       .string { $0.config.peerCertAllowedHostname = $1 }),
        FlagDefinition("peer-auto-tls", .security, "false",
                       "Peer TLS with a generated certificate when no peer certificate and key are given.",
                       .bool { $0.config.peerAutoTLS = $1 }),
        FlagDefinition("peer-crl-file", .security, "", "Revoked peer certificates (CRL file).",
                       .string { $0.config.peerCRLFile = $1 }),
        FlagDefinition("cipher-suites", .security, "",
                       "Comma-separated TLS cipher suites for clients and peers (empty: Go's defaults).",
                       .string { $0.config.cipherSuites = GoSyntax.split($1) }),
        FlagDefinition("cors", .security, "*", "Comma-separated origins allowed by CORS ('*': all).",
                       .custom { $0.cors.set($1) }),
        FlagDefinition("host-whitelist", .security, "*",
                       "Comma-separated host names accepted from HTTP clients when not using TLS ('*' or empty: all).",
                       .string { $0.config.hostWhitelist = GoSyntax.uniqueStrings($1) }),

        // Auth
        FlagDefinition("auth-token", .auth, "simple", "v3 auth token type and options: 'simple' or 'jwt,...'.",
                       .string { $0.config.authToken = $1 }),
        FlagDefinition("bcrypt-cost", .auth, "10", "bcrypt cost for password hashes (4 to 31).",
                       .uint { $0.config.bcryptCost = $1 }),
        FlagDefinition("auth-token-ttl", .auth, "300", "Lifetime of a simple auth token, in seconds.",
                       .uint { $0.config.authTokenTTLSeconds = $1 }),

        // Profiling and monitoring
        FlagDefinition("enable-pprof", .monitoring, "false",
                       "Serve Go-style profiling data at the client URLs under /debug/pprof/.",
                       .bool { $0.config.enablePprof = $1 }),
        FlagDefinition("metrics", .monitoring, "basic", "Metrics detail: 'basic' or 'extensive' (with histograms).",
                       .string { $0.config.metrics = $1 }),
        FlagDefinition("listen-metrics-urls", .monitoring, "",
                       "Extra URLs to serve the metrics and health endpoints on.",
                       .custom { $0.listenMetricsURLs.set($1) }),

        // Logging
        FlagDefinition("logger", .logging, "capnslog", "'capnslog' (deprecated) or 'zap' (structured).",
                       .string { $0.config.logger = $1 }),
        FlagDefinition("log-outputs", .logging, "default",
                       "Where logs go: 'default', 'stderr', 'stdout', 'systemd/journal' or file paths, comma-separated.",
                       .string { $0.config.logOutputs = GoSyntax.uniqueStrings($1) }),
        FlagDefinition("log-output", nil, "default", "Old name of --log-outputs.",
                       .string { $0.deprecatedLogOutput = GoSyntax.uniqueStrings($1) }),
        FlagDefinition("log-level", .logging, "info", "debug, info, warn, error, panic or fatal.",
                       .string { $0.config.logLevel = $1 }),

        // v2 proxy
        FlagDefinition("proxy", .proxy, "off", "v2 proxy mode: 'off', 'readonly' or 'on'.",
                       .choice(ProxyMode.init) { $0.config.proxy = $1 }),
        FlagDefinition("proxy-failure-wait", .proxy, "5000",
                       "Milliseconds a failed endpoint stays out of rotation.",
                       .uint { $0.config.proxyFailureWaitMilliseconds = $1 }),
        FlagDefinition("proxy-refresh-interval", .proxy, "30000", "Milliseconds between endpoint refreshes.",
                       .uint { $0.config.proxyRefreshIntervalMilliseconds = $1 }),
        FlagDefinition("proxy-dial-timeout", .proxy, "1000", "Dial timeout, in milliseconds.",
                       .uint { $0.config.proxyDialTimeoutMilliseconds = $1 }),
        FlagDefinition("proxy-write-timeout", .proxy, "5000", "Write timeout, in milliseconds.",
                       .uint { $0.config.proxyWriteTimeoutMilliseconds = $1 }),
        FlagDefinition("proxy-read-timeout", .proxy, "0", "Read timeout, in milliseconds (0: none).",
                       .uint { $0.config.proxyReadTimeoutMilliseconds = $1 }),

        // Experimental
        FlagDefinition("experimental-initial-corrupt-check", .experimental, "false",
                       "Check for data corruption before serving clients and peers.",
                       .bool { $0.config.experimentalInitialCorruptCheck = $1 }),
        FlagDefinition("experimental-corrupt-check-time", .experimental, "0s",
                       "Time between cluster corruption checks (0: none).",
                       .duration { $0.config.experimentalCorruptCheckTime = $1 }),
        FlagDefinition("experimental-enable-v2v3", .experimental, "",
                       "Serve v2 requests from the v3 store under this prefix.",
                       .string { $0.config.experimentalEnableV2V3 = $1 }),
        FlagDefinition("experimental-backend-bbolt-freelist-type", .experimental, "array",
                       "Backend freelist type: 'array' or 'map'.",
                       .string { $0.config.experimentalBackendBBoltFreelistType = $1 }),
        FlagDefinition("experimental-enable-lease-checkpoint", .experimental, "false",
                       "Have the leader checkpoint lease TTLs so leader changes do not renew them.",
                       .bool { $0.config.experimentalEnableLeaseCheckpoint = $1 }),
        FlagDefinition("experimental-enable-lease-checkpoint-persist", .experimental, "false",
                       "Persist the checkpointed TTLs (needs --experimental-enable-lease-checkpoint).",
                       .bool { $0.config.experimentalEnableLeaseCheckpointPersist = $1 }),
        FlagDefinition("experimental-compaction-batch-limit", .experimental, "0",
                       "Most revisions deleted per compaction batch (0: 1000).",
                       .int { $0.config.experimentalCompactionBatchLimit = Int($1) }),
        FlagDefinition("experimental-peer-skip-client-san-verification", .experimental, "false",
                       "Skip the SAN check of client certificates on peer connections.",
                       .bool { $0.config.experimentalPeerSkipClientSANVerification = $1 }),
        FlagDefinition("experimental-watch-progress-notify-interval", .experimental, "0s",
                       "Interval of watch progress notifications (0: 10m).",
                       .duration { $0.config.experimentalWatchProgressNotifyInterval = $1 }),
        FlagDefinition("experimental-warning-apply-duration", .experimental, "100ms",
                       "Applying a request for longer than this logs a warning.",
                       .duration { $0.config.experimentalWarningApplyDuration = $1 }),

        // Unsafe
        FlagDefinition("force-new-cluster", .unsafe, "false", "Restart as a new single-member cluster.",
                       .bool { $0.config.forceNewCluster = $1 }),
        FlagDefinition("unsafe-no-fsync", .unsafe, "false", "Never fsync: data is lost on a crash.",
                       .bool { $0.config.unsafeNoFsync = $1 }),

        // To be deprecated
        FlagDefinition("debug", .deprecated, "false", "Debug-level logging; use --log-level=debug instead.",
                       .bool { $0.config.debug = $1 }),
        FlagDefinition("log-package-levels", .deprecated, "",
                       "Log level per package, e.g. 'etcdmain=CRITICAL,etcdserver=DEBUG' (capnslog).",
                       .string { $0.config.logPackageLevels = $1 }),

        // Shown in the usage lines instead.
        FlagDefinition("config-file", nil, "", "Server configuration file.",
                       .string { $0.configFile = $1 }),
        FlagDefinition("version", nil, "false", "Print the version and exit.",
                       .bool { $0.printVersion = $1 }),
    ] + [
        "cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config", "force",
        "max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
        "retry-interval", "snapshot", "v", "vv", "test.coverprofile", "test.outputdir",
    ].map { FlagDefinition($0, nil, "", "", .obsolete($0)) }
}

// MARK: - Go's parsers

/// The Go standard library parsers etcd's flags go through (strconv, time, net/url, net), with
/// their error texts, so values are accepted and rejected exactly as etcd does.
enum GoSyntax {
    struct Failure: Error, Hashable {
        var message: String
    }

    enum NumberError: Error, Hashable {
        case syntax, range

        /// The `flag` package's text for a numeric flag.
        var flagText: String { self == .syntax ? "parse error" : "value out of range" }
    }

    /// strconv.ParseBool.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// strconv.ParseUint with base 0: 0x, 0o, 0b and 0 prefixes, and underscores between digits.
    static func parseUint(_ text: String, bitSize: Int) -> Result<UInt64, NumberError> {
        let original = Array(text.utf8)
        guard !original.isEmpty else { return .failure(.syntax) }
        var digits = original[...]
        var base: UInt64 = 10
        if digits.first == UInt8(ascii: "0") {
            let prefix = digits.count >= 3 ? lower(digits[digits.startIndex + 1]) : 0
            switch prefix {
            case UInt8(ascii: "b"): base = 2; digits = digits.dropFirst(2)
            case UInt8(ascii: "o"): base = 8; digits = digits.dropFirst(2)
            case UInt8(ascii: "x"): base = 16; digits = digits.dropFirst(2)
            default: base = 8; digits = digits.dropFirst(1)
            }
        }
        let maximum: UInt64 = bitSize >= 64 ? .max : (1 << UInt64(bitSize)) - 1
        var value: UInt64 = 0
        var underscores = false
        for byte in digits {
            let digit: UInt64
            if byte == UInt8(ascii: "_") {
                underscores = true
                continue
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digit = UInt64(byte - UInt8(ascii: "0"))
            } else if lower(byte) >= UInt8(ascii: "a") && lower(byte) <= UInt8(ascii: "z") {
                digit = UInt64(lower(byte) - UInt8(ascii: "a")) + 10
            } else {
                return .failure(.syntax)
            }
            if digit >= base { return .failure(.syntax) }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: base)
            let (next, overflow2) = shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 || next > maximum { return .failure(.range) }
            value = next
        }
        if underscores && !underscoreOK(original) { return .failure(.syntax) }
        return .success(value)
    }

    /// strconv.ParseInt with base 0.
    static func parseInt(_ text: String, bitSize: Int) -> Result<Int64, NumberError> {
        guard let first = text.utf8.first else { return .failure(.syntax) }
        let negative = first == UInt8(ascii: "-")
        let magnitudeText = first == UInt8(ascii: "+") || negative ? String(text.dropFirst()) : text
        let magnitude: UInt64
        switch parseUint(magnitudeText, bitSize: bitSize) {
        case .success(let value): magnitude = value
        case .failure(let error): return .failure(error)
        }
        let cutoff = UInt64(1) << UInt64(bitSize - 1)
        if !negative && magnitude >= cutoff { return .failure(.range) }
        if negative && magnitude > cutoff { return .failure(.range) }
        return .success(negative ? 0 &- Int64(bitPattern: magnitude) : Int64(magnitude))
    }

    /// strconv.Atoi: base 10, an optional sign, nothing else.
    static func atoi(_ text: String) -> Int64? {
        var bytes = text.utf8[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int64((negative ? "-" : "") + String(decoding: bytes, as: UTF8.self))
    }

    /// strconv's `underscoreOK`: underscores only between digits (a base prefix counts as one).
    private static func underscoreOK(_ bytes: [UInt8]) -> Bool {
        var text = bytes[...]
        if let first = text.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { text = text.dropFirst() }
        var saw = UInt8(ascii: "^")
        var hex = false
        if text.count >= 2, text.first == UInt8(ascii: "0") {
            let prefix = lower(text[text.startIndex + 1])
            if prefix == UInt8(ascii: "b") || prefix == UInt8(ascii: "o") || prefix == UInt8(ascii: "x") {
                text = text.dropFirst(2)
                saw = UInt8(ascii: "0")
                hex = prefix == UInt8(ascii: "x")
            }
        }
        for byte in text {
            if (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (hex && lower(byte) >= UInt8(ascii: "a") && lower(byte) <= UInt8(ascii: "f")) {
                saw = UInt8(ascii: "0")
                continue
            }
            if byte == UInt8(ascii: "_") {
                if saw != UInt8(ascii: "0") { return false }
                saw = UInt8(ascii: "_")
                continue
            }
            if saw == UInt8(ascii: "_") { return false }
            saw = UInt8(ascii: "!")
        }
        return saw != UInt8(ascii: "_")
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte | 0x20 }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// time.ParseDuration, in nanoseconds: "300ms", "-1.5h", "2h45m"; a bare number only if 0.
    static func parseDuration(_ text: String) -> Result<Int64, Failure> {
        let invalid = Failure(message: "time: invalid duration " + timeQuote(text))
        var rest = Array(text.utf8)[...]
        var negative = false
        if let first = rest.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        if rest.elementsEqual("0".utf8) { return .success(0) }
        if rest.isEmpty { return .failure(invalid) }
        let limit: UInt64 = 1 << 63
        var total: UInt64 = 0
        while let first = rest.first {
            guard first == UInt8(ascii: ".") || isDigit(first) else { return .failure(invalid) }
            var whole: UInt64 = 0
            var sawWhole = false
            while let byte = rest.first, isDigit(byte) {
                if whole > limit / 10 { return .failure(invalid) }
                whole = whole * 10 + UInt64(byte - UInt8(ascii: "0"))
                if whole > limit { return .failure(invalid) }
                rest = rest.dropFirst()
                sawWhole = true
            }
            var fraction: UInt64 = 0
            var scale = 1.0
            var sawFraction = false
            if rest.first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
                var overflow = false
                while let byte = rest.first, isDigit(byte) {
                    rest = rest.dropFirst()
                    sawFraction = true
                    if overflow { continue }
                    if fraction > (limit - 1) / 10 {
                        overflow = true
                        continue
                    }
                    let next = fraction * 10 + UInt64(byte - UInt8(ascii: "0"))
                    if next > limit {
                        overflow = true
                        continue
                    }
                    fraction = next
                    scale *= 10
                }
            }
            if !sawWhole && !sawFraction { return .failure(invalid) }
            let unitBytes = rest.prefix { $0 != UInt8(ascii: ".") && !isDigit($0) }
            rest = rest.dropFirst(unitBytes.count)
            if unitBytes.isEmpty { return .failure(Failure(message: "time: missing unit in duration " + timeQuote(text))) }
            let unitName = String(decoding: unitBytes, as: UTF8.self)
            guard let unit = durationUnits[unitName] else {
                return .failure(Failure(message: "time: unknown unit \(timeQuote(unitName)) in duration \(timeQuote(text))"))
            }
            if whole > limit / unit { return .failure(invalid) }
            var value = whole * unit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(unit) / scale))
                if value > limit { return .failure(invalid) }
            }
            total += value
            if total > limit { return .failure(invalid) }
        }
        if negative { return .success(0 &- Int64(bitPattern: total)) }
        if total > limit - 1 { return .failure(invalid) }
        return .success(Int64(total))
    }

    private static let durationUnits: [String: UInt64] = [
        "ns": 1, "us": 1_000, "\u{00B5}s": 1_000, "\u{03BC}s": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// The time package's quoting: bytes outside printable ASCII as \x escapes.
    private static func timeQuote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x80 || scalar.value < 0x20 {
                for byte in String(scalar).utf8 { result += "\\x" + hex(byte, uppercase: false) }
            } else {
                if scalar == "\"" || scalar == "\\" { result += "\\" }
                result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Go's %q of a string (strconv.Quote).
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\u{07}": result += "\\a"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{0B}": result += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\x" + hex(UInt8(scalar.value), uppercase: false)
                } else if scalar.value < 0x80 || isPrintable(scalar) {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x10000 {
                    result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    result += "\\U" + String(repeating: "0", count: 8 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                }
            }
        }
        return result + "\""
    }

    /// Go's %q of a []string: `["a" "b"]`.
    static func quote(_ list: [String]) -> String {
        "[" + list.map(quote).joined(separator: " ") + "]"
    }

    /// unicode.IsPrint, for scalars outside ASCII.
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
             .spaceSeparator:
            false
        default:
            true
        }
    }

    private static func hex(_ byte: UInt8, uppercase: Bool) -> String {
        let digits = String(byte, radix: 16, uppercase: uppercase)
        return digits.count == 1 ? "0" + digits : digits
    }

    /// Go's sort.Strings order: bytewise.
    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    static func sorted(_ strings: [String]) -> [String] { strings.sorted(by: precedes) }

    /// strings.Split on commas: an empty text is one empty element.
    static func split(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// `pkg/flags.UniqueStringsValue`: comma-separated, de-duplicated, sorted.
    static func uniqueStrings(_ text: String) -> [String] { sorted(Array(Set(split(text)))) }

    // MARK: URLs

    /// The parts of a URL etcd looks at, and its canonical text (Go's `URL.String`).
    struct URLParts: Hashable {
        var scheme = ""
        var opaque = ""
        /// Unescaped, as Go's `URL.Host`.
        var host = ""
        var path = ""
        var canonical = ""
    }

    /// `types.NewURLs`: every piece trimmed and parsed, http/https/unix/unixs only, a host:port
    /// address, no path; sorted by canonical text.
    static func newURLs(_ pieces: [String]) -> Result<[String], Failure> {
        guard !pieces.isEmpty else { return .failure(Failure(message: "no valid URLs given")) }
        var urls: [String] = []
        for piece in pieces {
            let text = trimSpace(piece)
            let url: URLParts
            switch parseURL(text) {
            case .success(let parsed): url = parsed
            case .failure(let error): return .failure(error)
            }
            guard ["http", "https", "unix", "unixs"].contains(url.scheme) else {
                return .failure(Failure(message: "URL scheme must be http, https, unix, or unixs: \(text)"))
            }
            guard splitHostPort(url.host) != nil else {
                return .failure(Failure(message: "URL address does not have the form \"host:port\": \(text)"))
            }
            guard url.path.isEmpty else { return .failure(Failure(message: "URL must not contain a path: \(text)")) }
            urls.append(url.canonical)
        }
        return .success(sorted(urls))
    }

    /// strings.TrimSpace.
    private static func trimSpace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }

    /// net/url.Parse, for the absolute URLs etcd takes; errors read `parse "<url>": <reason>`.
    static func parseURL(_ raw: String) -> Result<URLParts, Failure> {
        let bytes = Array(raw.utf8)
        let hash = bytes.firstIndex(of: UInt8(ascii: "#"))
        let main = hash.map { bytes[..<$0] } ?? bytes[...]
        let fragment = hash.map { bytes[($0 + 1)...] } ?? []
        var url: URLParts
        switch parseWithoutFragment(main) {
        case .success(let parsed): url = parsed
        case .failure(let error):
            return .failure(Failure(message: "parse \(quote(String(decoding: main, as: UTF8.self))): \(error.message)"))
        }
        if !fragment.isEmpty {
            if case .failure(let error) = unescape(fragment, .fragment) {
                return .failure(Failure(message: "parse \(quote(raw)): \(error.message)"))
            }
            url.canonical += "#" + String(decoding: fragment, as: UTF8.self)
        }
        return .success(url)
    }

    private static func parseWithoutFragment(_ bytes: ArraySlice<UInt8>) -> Result<URLParts, Failure> {
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return .failure(Failure(message: "net/url: invalid control character in URL"))
        }
        var url = URLParts()
        var rest = bytes
        // getScheme: letters first, then letters, digits, + - .; anything else means no scheme.
        for (offset, byte) in bytes.enumerated() {
            let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            if isLetter { continue }
            if isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") {
                if offset == 0 { break }
                continue
            }
            if byte == UInt8(ascii: ":") {
                if offset == 0 { return .failure(Failure(message: "missing protocol scheme")) }
                url.scheme = String(decoding: bytes.prefix(offset), as: UTF8.self).lowercased()
                rest = bytes.dropFirst(offset + 1)
            }
            break
        }
        var query: ArraySlice<UInt8>?
        let question = UInt8(ascii: "?"), slash = UInt8(ascii: "/")
        if let index = rest.firstIndex(of: question) {
            query = rest[(index + 1)...]
            rest = rest[..<index]
        }
        if rest.first != slash {
            if !url.scheme.isEmpty {
                url.opaque = String(decoding: rest, as: UTF8.self)
                url.canonical = url.scheme + ":" + url.opaque + (query.map { "?" + String(decoding: $0, as: UTF8.self) } ?? "")
                return .success(url)
            }
            if rest.prefix(while: { $0 != slash }).contains(UInt8(ascii: ":")) {
                return .failure(Failure(message: "first path segment in URL cannot contain colon"))
            }
        }
        var authorityText = ""
        var hasAuthority = false
        if rest.starts(with: "//".utf8) && (!url.scheme.isEmpty || !rest.starts(with: "///".utf8)) {
            var authority = rest.dropFirst(2)
            rest = []
            if let index = authority.firstIndex(of: slash) {
                rest = authority[index...]
                authority = authority[..<index]
            }
            switch parseAuthority(authority) {
            case .success(let (userinfo, host)):
                url.host = host
                authorityText = (userinfo.map { $0 + "@" } ?? "") + escapeHost(host)
                hasAuthority = userinfo != nil || !host.isEmpty
            case .failure(let error):
                return .failure(error)
            }
        }
        switch unescape(rest, .path) {
        case .success(let path): url.path = path
        case .failure(let error): return .failure(error)
        }
        var canonical = url.scheme.isEmpty ? "" : url.scheme + ":"
        if !url.scheme.isEmpty || hasAuthority {
            if hasAuthority || !url.path.isEmpty { canonical += "//" }
            canonical += authorityText
        }
        canonical += String(decoding: rest, as: UTF8.self)
        if let query { canonical += "?" + String(decoding: query, as: UTF8.self) }
        url.canonical = canonical
        return .success(url)
    }

    private static func parseAuthority(_ authority: ArraySlice<UInt8>) -> Result<(String?, String), Failure> {
        let at = authority.lastIndex(of: UInt8(ascii: "@"))
        let hostPart = at.map { authority[($0 + 1)...] } ?? authority
        let host: String
        switch parseHost(hostPart) {
        case .success(let parsed): host = parsed
        case .failure(let error): return .failure(error)
        }
        guard let at else { return .success((nil, host)) }
        let userinfo = authority[..<at]
        let allowed = Set("-._:~!$&'()*+,;=%@".utf8)
        guard userinfo.allSatisfy({ isAlphanumeric($0) || allowed.contains($0) }) else {
            return .failure(Failure(message: "net/url: invalid userinfo"))
        }
        let colon = userinfo.firstIndex(of: UInt8(ascii: ":"))
        for part in [colon.map { userinfo[..<$0] } ?? userinfo, colon.map { userinfo[($0 + 1)...] } ?? []] {
            if case .failure(let error) = unescape(part, .userinfo) { return .failure(error) }
        }
        return .success((String(decoding: userinfo, as: UTF8.self), host))
    }

    private static func parseHost(_ host: ArraySlice<UInt8>) -> Result<String, Failure> {
        let colon = UInt8(ascii: ":")
        if host.first == UInt8(ascii: "[") {
            guard let close = host.lastIndex(of: UInt8(ascii: "]")) else {
                return .failure(Failure(message: "missing ']' in host"))
            }
            let colonPort = host[(close + 1)...]
            guard validOptionalPort(colonPort) else {
                return .failure(Failure(message: "invalid port \(quote(String(decoding: colonPort, as: UTF8.self))) after host"))
            }
            let literal = host[..<close]
            if let zone = firstRange(of: Array("%25".utf8), in: literal) {
                var joined = ""
                for (part, mode) in [(host[..<zone], EscapeMode.host), (host[zone..<close], .zone), (host[close...], .host)] {
                    switch unescape(part, mode) {
                    case .success(let text): joined += text
                    case .failure(let error): return .failure(error)
                    }
                }
                return .success(joined)
            }
        } else if let index = host.lastIndex(of: colon) {
            let colonPort = host[index...]
            guard validOptionalPort(colonPort) else {
                return .failure(Failure(message: "invalid port \(quote(String(decoding: colonPort, as: UTF8.self))) after host"))
            }
        }
        return unescape(host, .host)
    }

    private static func firstRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private static func validOptionalPort(_ port: ArraySlice<UInt8>) -> Bool {
        guard let first = port.first else { return true }
        return first == UInt8(ascii: ":") && port.dropFirst().allSatisfy(isDigit)
    }

    private enum EscapeMode { case host, zone, path, userinfo, fragment }

    /// net/url's `unescape`: checks %-escapes (and, in a host, which characters may appear) and
    /// decodes them.
    private static func unescape(_ bytes: ArraySlice<UInt8>, _ mode: EscapeMode) -> Result<String, Failure> {
        var decoded: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]),
                      let low = hexValue(bytes[index + 2]) else {
                    let shown = bytes[index..<min(index + 3, bytes.endIndex)]
                    return .failure(escapeError(shown))
                }
                let escape = bytes[index..<(index + 3)]
                let isPercent = escape.elementsEqual("%25".utf8)
                if mode == .host && high < 8 && !isPercent { return .failure(escapeError(escape)) }
                let value = high << 4 | low
                if mode == .zone && !isPercent && value != UInt8(ascii: " ") && shouldEscapeInHost(value) {
                    return .failure(escapeError(escape))
                }
                decoded.append(value)
                index += 3
                continue
            }
            if (mode == .host || mode == .zone) && byte < 0x80 && shouldEscapeInHost(byte) {
                let shown = String(decoding: [byte], as: UTF8.self)
                return .failure(Failure(message: "invalid character \(quote(shown)) in host name"))
            }
            decoded.append(byte)
            index += 1
        }
        return .success(String(decoding: decoded, as: UTF8.self))
    }

    private static func escapeError(_ bytes: ArraySlice<UInt8>) -> Failure {
        Failure(message: "invalid URL escape \(quote(String(decoding: bytes, as: UTF8.self)))")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
    }

    /// net/url's `shouldEscape` in host mode.
    private static func shouldEscapeInHost(_ byte: UInt8) -> Bool {
        if isAlphanumeric(byte) { return false }
        return !"!$&'()*+,;=:[]<>\"-_.~".utf8.contains(byte)
    }

    private static func escapeHost(_ host: String) -> String {
        var result = ""
        for byte in host.utf8 {
            if byte < 0x80 && !shouldEscapeInHost(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + hex(byte, uppercase: true)
            }
        }
        return result
    }

    /// net.SplitHostPort.
    static func splitHostPort(_ hostPort: String) -> (host: String, port: String)? {
        let bytes = Array(hostPort.utf8)
        guard let lastColon = bytes.lastIndex(of: UInt8(ascii: ":")) else { return nil }
        let host: ArraySlice<UInt8>
        var searchOpen = 0, searchClose = 0
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            // The closing bracket must come right before the last colon.
            guard close + 1 == lastColon else { return nil }
            host = bytes[1..<close]
            searchOpen = 1
            searchClose = close + 1
        } else {
            host = bytes[..<lastColon]
            if host.contains(UInt8(ascii: ":")) { return nil }
        }
        if bytes[searchOpen...].contains(UInt8(ascii: "[")) || bytes[searchClose...].contains(UInt8(ascii: "]")) {
            return nil
        }
        return (String(decoding: host, as: UTF8.self), String(decoding: bytes[(lastColon + 1)...], as: UTF8.self))
    }

    /// Whether net.ParseIP accepts the text: dotted IPv4 without leading zeros, or IPv6 without a
    /// zone.
    static func isIP(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        for byte in bytes {
            if byte == UInt8(ascii: ".") { return parseIPv4(bytes[...]) }
            if byte == UInt8(ascii: ":") { return parseIPv6(bytes[...]) }
        }
        return false
    }

    private static func parseIPv4(_ text: ArraySlice<UInt8>) -> Bool {
        var rest = text
        for part in 0..<4 {
            if part > 0 {
                guard rest.first == UInt8(ascii: ".") else { return false }
                rest = rest.dropFirst()
            }
            let digits = rest.prefix(while: isDigit)
            guard !digits.isEmpty, digits.count <= 3 else { return false }
            if digits.count > 1 && digits.first == UInt8(ascii: "0") { return false }
            guard let value = Int(String(decoding: digits, as: UTF8.self)), value <= 255 else { return false }
            rest = rest.dropFirst(digits.count)
        }
        return rest.isEmpty
    }

    private static func parseIPv6(_ text: ArraySlice<UInt8>) -> Bool {
        var rest = text
        var groups = 0
        var ellipsis = false
        if rest.starts(with: "::".utf8) {
            ellipsis = true
            rest = rest.dropFirst(2)
            if rest.isEmpty { return true }
        }
        while groups < 8 {
            let digits = rest.prefix(while: { hexValue($0) != nil })
            guard !digits.isEmpty, digits.count <= 4 else { return false }
            if rest.dropFirst(digits.count).first == UInt8(ascii: ".") {
                // A trailing IPv4 address fills the last two groups.
                guard ellipsis || groups == 6, groups + 2 <= 8, parseIPv4(rest) else { return false }
                rest = []
                groups += 2
                break
            }
            groups += 1
            rest = rest.dropFirst(digits.count)
            if rest.isEmpty { break }
            guard rest.first == UInt8(ascii: ":"), rest.count > 1 else { return false }
            rest = rest.dropFirst()
            if rest.first == UInt8(ascii: ":") {
                if ellipsis { return false }
                ellipsis = true
                rest = rest.dropFirst()
                if rest.isEmpty { break }
            }
        }
        guard rest.isEmpty else { return false }
        // "::" must stand for at least one group; without it all eight must be there.
        return ellipsis ? groups < 8 : groups == 8
    }
}
