import Foundation
import TestSupport

/// A store (ours or Debian's etcd, one member) with our kube-apiserver on it, and Debian's kubectl
/// 1.20 pointed at it through a kubeconfig of the test's own.
struct KubeControlPlane: Sendable {
    let directory: TemporaryDirectory
    /// The store: one member, or three.
    let etcd: EtcdCluster
    let apiserver: ChildProcess
    /// The controller manager, the scheduler and the node agent, when started.
    var components: [ChildProcess] = []
    let port: Int
    let kubeconfig: String

    /// Debian's kubectl 1.20 (`kubernetes-client`): `KUBECTL` names it, else the copy
    /// `scripts/test` unpacks into `.build-tools/` (the machine's own kubectl may be another release).
    static func kubectlPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["KUBECTL"] { return path }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<3 {
            directory.deleteLastPathComponent()
            let candidate = directory.appendingPathComponent(".build-tools/kubernetes-client/usr/bin/kubectl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError.missingExecutable("Debian's kubectl 1.20 (run scripts/test, or set KUBECTL)")
    }

    /// `--etcd-servers` for the components: every member.
    var etcdServers: String { etcd.members.map { "http://\($0.clientEndpoint)" }.joined(separator: ",") }

    static func start(in directory: TemporaryDirectory, etcdExecutable: String, members: Int = 1) async throws -> KubeControlPlane {
        let etcd = try await EtcdCluster.start(in: directory, size: members, executable: etcdExecutable)
        let servers = etcd.members.map { "http://\($0.clientEndpoint)" }.joined(separator: ",")
        let port = try FreePorts.allocate(1)[0]
        let apiserver = try ChildProcess(
            name: "kube-apiserver", executable: try builtExecutable("kube-apiserver"),
            arguments: ["--etcd-servers", servers, "--insecure-port", String(port)],
            logPath: directory.appending("kube-apiserver.log"))
        try await waitUntil("kube-apiserver answering /healthz", timeout: .seconds(30)) {
            try apiserver.checkRunning()
            return (try? HTTPProbe.get(port: port, path: "/healthz"))?.status == 200
        }
        let kubeconfig = directory.appending("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            clusters:
            - name: local
              cluster:
                server: http://127.0.0.1:\(port)
            contexts:
            - name: local
              context:
                cluster: local
                user: local
            current-context: local
            users:
            - name: local
              user: {}
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        return KubeControlPlane(directory: directory, etcd: etcd, apiserver: apiserver, port: port, kubeconfig: kubeconfig)
    }

    /// Starts kube-controller-manager, kube-scheduler and a node agent simulating `nodes` nodes
    /// (sim-0, sim-1, ..., none when 0); `leaseSeconds` sets the nodes' lease duration and `controllerFlags`
    /// are given to the controller manager (for a node lifecycle in seconds rather than minutes).
    func withComponents(nodes: Int, cpu: String = "4", memory: String = "8Gi", leaseSeconds: Int = 40,
                        controllerFlags: [String] = []) throws -> KubeControlPlane {
        var plane = self
        let store = ["--etcd-servers", etcdServers]
        plane.components = [
            try ChildProcess(name: "kube-controller-manager", executable: try builtExecutable("kube-controller-manager"),
                             arguments: store + controllerFlags, logPath: directory.appending("kube-controller-manager.log")),
            try ChildProcess(name: "kube-scheduler", executable: try builtExecutable("kube-scheduler"),
                             arguments: store, logPath: directory.appending("kube-scheduler.log")),
        ]
        if nodes > 0 {
            plane.components.append(try startNodeAgent(name: "sim", arguments: ["--simulated-nodes", String(nodes), "--cpu", cpu, "--memory", memory,
                                                                                "--node-lease-duration-seconds", String(leaseSeconds)]))
        }
        return plane
    }

    /// A node agent of its own (one simulated node unless `arguments` say otherwise), not
    /// among `components`: the test stops it when the node is to leave.
    func startNodeAgent(name: String, arguments: [String]) throws -> ChildProcess {
        try ChildProcess(name: "kubelet-\(name)", executable: try builtExecutable("kubelet"),
                         arguments: ["--etcd-servers", etcdServers, "--node-name", name] + arguments,
                         logPath: directory.appending("kubelet-\(name).log"))
    }

    /// Runs `body`, then stops everything; on a failure the components' logs are printed first.
    func run(_ body: (KubeControlPlane) async throws -> Void) async throws {
        do {
            try await body(self)
        } catch {
            for component in [apiserver] + components {
                print("\(component.name) log:\n" + component.logTail(lines: 30))
            }
            await stop()
            throw error
        }
        await stop()
    }

    func stop() async {
        for component in components { _ = await component.stop() }
        _ = await apiserver.stop()
        await etcd.stop()
    }

    /// Rows of `kubectl get pods -l <selector>` as name → (node, phase, terminating).
    func pods(_ selector: String) throws -> [String: (node: String, phase: String, terminating: Bool)] {
        let output = try ok("get", "pods", "-l", selector, "--no-headers",
                            "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase,DELETING:.metadata.deletionTimestamp")
        var rows: [String: (node: String, phase: String, terminating: Bool)] = [:]
        for line in output.split(separator: "\n") {
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if cells.count == 4 { rows[cells[0]] = (cells[1], cells[2], cells[3] != "<none>") }
        }
        return rows
    }

    /// Polls kubectl until its output satisfies `condition`.
    func waitFor(_ what: String, timeout: Duration = .seconds(60), _ arguments: String...,
                 until condition: @escaping (String) -> Bool) async throws {
        var last = ""
        do {
            try await waitUntil(what, timeout: timeout, interval: .milliseconds(300)) {
                for component in components { try component.checkRunning() }
                last = (try? kubectl(arguments).stdout) ?? ""
                return condition(last)
            }
        } catch {
            throw KubectlFailure(arguments: arguments, result: ProcessResult(exitCode: -1, stdout: last, stderr: "\(error)"))
        }
    }

    /// Runs kubectl against this control plane; HOME is the test's directory, so that kubectl's
    /// discovery cache is its own.
    @discardableResult
    func kubectl(_ arguments: String..., stdin: String? = nil, interruptAfter: Duration? = nil) throws -> ProcessResult {
        try kubectl(arguments, stdin: stdin, interruptAfter: interruptAfter)
    }

    func kubectl(_ arguments: [String], stdin: String? = nil, interruptAfter: Duration? = nil) throws -> ProcessResult {
        try runProcess(Self.kubectlPath(), ["--kubeconfig", kubeconfig] + arguments, stdin: stdin,
                       environment: ["HOME": directory.path, "PATH": "/usr/bin:/bin"], interruptAfter: interruptAfter)
    }

    /// kubectl's standard output, failing with what it printed when it does not succeed.
    @discardableResult
    func ok(_ arguments: String..., stdin: String? = nil) throws -> String {
        let result = try kubectl(arguments, stdin: stdin)
        guard result.exitCode == 0 else {
            throw KubectlFailure(arguments: arguments, result: result)
        }
        return result.stdout
    }
}

struct KubectlFailure: Error, CustomStringConvertible {
    var arguments: [String]
    var result: ProcessResult
    var description: String {
        "kubectl \(arguments.joined(separator: " ")) exited \(result.exitCode): \(result.stderr) \(result.stdout)"
    }
}
