import Foundation

/// One etcd member running as a child process on loopback, for process-level tests.
///
/// By default it runs Debian's reference etcd (`/usr/bin/etcd`, or `$ETCD_BIN`); pass another
/// `executable` to run ours with the same flags, which is what differential tests do.
public final class EtcdMember: Sendable {
    /// The reference etcd binary: `$ETCD_BIN` if set, else Debian's `/usr/bin/etcd`.
    public static var referenceExecutable: String {
        ProcessInfo.processInfo.environment["ETCD_BIN"] ?? "/usr/bin/etcd"
    }

    /// The member's name (`--name`).
    public let name: String
    /// The address it listens on: 127.0.0.1, or its own in a `NetworkLab` namespace.
    public let host: String
    /// The port clients use (gRPC and HTTP share it, as in etcd).
    public let clientPort: Int
    /// The port peers use.
    public let peerPort: Int
    /// `<scheme>://<host>:<peerPort>`.
    public var peerURL: String { arguments[arguments.firstIndex(of: "--listen-peer-urls")! + 1] }
    /// The member's data directory.
    public let dataDir: String
    /// The running process.
    public let process: ChildProcess
    /// The executable and arguments it was started with, to restart it the same way.
    private let executable: String
    private let arguments: [String]
    private let directory: TemporaryDirectory
    /// For a member serving clients over TLS: curl's flags to reach its `/health`.
    private let clientTLS: ClientTLS?
    /// Variables added to the process's environment (failpoints).
    private let environment: [String: String]
    /// The network namespace it runs in, if not the test's own.
    private let namespace: String?

    /// How a member serves clients over TLS (`https://` client URLs): the server's TLS flags, and
    /// the curl flags (`--cacert`, `--cert`, `-k`…) that let the harness probe `/health`.
    public struct ClientTLS: Sendable {
        public var serverArguments: [String]
        public var curlArguments: [String]

        public init(serverArguments: [String], curlArguments: [String]) {
            self.serverArguments = serverArguments
            self.curlArguments = curlArguments
        }
    }

    /// `<host>:<clientPort>`, the form etcdctl's `--endpoints` takes.
    public var clientEndpoint: String { "\(host):\(clientPort)" }

    private init(
        name: String, host: String, clientPort: Int, peerPort: Int, dataDir: String, process: ChildProcess,
        executable: String, arguments: [String], directory: TemporaryDirectory, clientTLS: ClientTLS?,
        environment: [String: String], namespace: String?
    ) {
        self.clientTLS = clientTLS
        self.environment = environment
        self.namespace = namespace
        self.host = host
        self.name = name
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.dataDir = dataDir
        self.process = process
        self.executable = executable
        self.arguments = arguments
        self.directory = directory
    }

    /// Starts a single-member cluster in `directory` and waits until `/health` reports healthy.
    public static func start(
        in directory: TemporaryDirectory,
        name: String = "default",
        executable: String = EtcdMember.referenceExecutable,
        extraArguments: [String] = [],
        clientTLS: ClientTLS? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> EtcdMember {
        try await EtcdCluster.start(
            in: directory, names: [name], executable: executable, extraArguments: extraArguments,
            clientTLS: clientTLS, timeout: timeout
        ).members[0]
    }

    /// Starts a member that joins a running cluster which already lists it (`member add`), and
    /// waits until it is healthy. `initialCluster` names every member, this one included.
    public static func join(
        in directory: TemporaryDirectory, name: String, clientPort: Int, peerPort: Int, initialCluster: String,
        executable: String = EtcdMember.referenceExecutable, extraArguments: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> EtcdMember {
        let member = try launch(
            name: name, clientPort: clientPort, peerPort: peerPort, initialCluster: initialCluster, token: "",
            state: "existing", executable: executable, extraArguments: extraArguments, directory: directory)
        do {
            try await member.waitUntilHealthy(timeout: timeout)
        } catch {
            await member.stop()
            throw error
        }
        return member
    }

    /// Starts the process of one member, without waiting for it.
    public static func launch(
        name: String, clientPort: Int, peerPort: Int, initialCluster: String, token: String, state: String = "new",
        peerScheme: String = "http", executable: String, extraArguments: [String], directory: TemporaryDirectory,
        clientTLS: ClientTLS? = nil, environment: [String: String] = [:], host: String = "127.0.0.1",
        namespace: String? = nil
    ) throws -> EtcdMember {
        let peerURL = "\(peerScheme)://\(host):\(peerPort)"
        let clientURL = "\(clientTLS == nil ? "http" : "https")://\(host):\(clientPort)"
        let dataDir = directory.appending("\(name).etcd")
        let arguments = [
            "--name", name, "--data-dir", dataDir,
            "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
            "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
            "--initial-cluster", initialCluster, "--initial-cluster-state", state,
        ] + (token.isEmpty ? [] : ["--initial-cluster-token", token]) + (clientTLS?.serverArguments ?? [])
            + extraArguments
        let process = try spawn(
            name: name, executable: executable, arguments: arguments, environment: environment,
            logPath: directory.appending("\(name)-1.log"), namespace: namespace)
        return EtcdMember(
            name: name, host: host, clientPort: clientPort, peerPort: peerPort, dataDir: dataDir, process: process,
            executable: executable, arguments: arguments, directory: directory, clientTLS: clientTLS,
            environment: environment, namespace: namespace)
    }

    /// Starts the process, inside `namespace` if one is given (`ip netns exec` replaces itself with
    /// the server, so the child's pid is the server's and signals reach it).
    private static func spawn(name: String, executable: String, arguments: [String], environment: [String: String],
                              logPath: String, namespace: String?) throws -> ChildProcess {
        guard let namespace else {
            return try ChildProcess(name: name, executable: executable, arguments: arguments,
                                    environment: environment, logPath: logPath)
        }
        return try ChildProcess(name: name, executable: "/usr/sbin/ip",
                                arguments: ["netns", "exec", namespace, executable] + arguments,
                                environment: environment, logPath: logPath)
    }

    /// Waits until `GET /health` answers `"health":"true"`; fails early if the process exits.
    public func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("\(name) to report healthy on \(host):\(clientPort)", timeout: timeout) {
            try process.checkRunning()
            if let clientTLS {
                let probe = try runProcess("/usr/bin/curl", ["-s", "--max-time", "2"] + clientTLS.curlArguments
                                           + ["https://\(host):\(clientPort)/health"])
                return probe.stdout.contains("\"health\":\"true\"")
            }
            let response = try HTTPProbe.get(host: host, port: clientPort, path: "/health")
            return response.status == 200 && response.body.contains("\"health\":\"true\"")
        }
    }

    /// Starts the member again with the same ports, data dir and flags (after it was stopped or
    /// killed) and waits until it is healthy; the returned value stands for the new process.
    public func restarted(timeout: Duration = .seconds(30)) async throws -> EtcdMember {
        let member = try relaunched()
        let process = member.process
        do {
            try await member.waitUntilHealthy(timeout: timeout)
        } catch {
            await process.stop()
            throw error
        }
        return member
    }

    /// Starts the member again like `restarted`, with `extraArguments` added, without waiting
    /// for it (a member of a cluster that is down becomes healthy only with its peers).
    /// `environment`, when given, replaces the member's variables from now on (to switch a
    /// failpoint on or off).
    public func relaunched(extraArguments: [String] = [], environment: [String: String]? = nil) throws -> EtcdMember {
        let environment = environment ?? self.environment
        let restarts = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?
            .filter { $0.hasPrefix("\(name)-") && $0.hasSuffix(".log") }.count ?? 0
        let process = try Self.spawn(
            name: name, executable: executable, arguments: arguments + extraArguments, environment: environment,
            logPath: directory.appending("\(name)-\(restarts + 1).log"), namespace: namespace)
        return EtcdMember(
            name: name, host: host, clientPort: clientPort, peerPort: peerPort, dataDir: dataDir, process: process,
            executable: executable, arguments: arguments + extraArguments, directory: directory, clientTLS: clientTLS,
            environment: environment, namespace: namespace)
    }

    /// Stops the member (SIGTERM, then SIGKILL after `grace`).
    public func stop(grace: Duration = .seconds(10)) async {
        await process.stop(grace: grace)
    }
}
