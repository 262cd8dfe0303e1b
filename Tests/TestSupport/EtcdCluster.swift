import Foundation

/// Several etcd members forming one cluster on loopback, for process-level tests.
public struct EtcdCluster: Sendable {
    /// The members, in the order of their names; replace one with its `restarted()` value.
    public var members: [EtcdMember]

    /// Every member's client endpoint, comma separated, as etcdctl's `--endpoints` takes them.
    public var endpoints: String { members.map(\.clientEndpoint).joined(separator: ",") }

    /// The `--initial-cluster` value naming every member (for a member joining it).
    public var initialCluster: String {
        members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
    }

    /// Starts a cluster of `size` members named n1, n2, ... and waits until each is healthy.
    /// `peerScheme` "https" needs TLS flags in `extraArguments` (e.g. `--peer-auto-tls`).
    public static func start(
        in directory: TemporaryDirectory,
        size: Int,
        executable: String = EtcdMember.referenceExecutable,
        extraArguments: [String] = [],
        peerScheme: String = "http",
        token: (@Sendable (_ peerURLs: [String]) -> String)? = nil,
        environment: [String: String] = [:],
        lab: NetworkLab? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> EtcdCluster {
        try await start(
            in: directory, names: (1...size).map { "n\($0)" }, executable: executable,
            extraArguments: extraArguments, peerScheme: peerScheme, token: token, environment: environment,
            lab: lab, timeout: timeout)
    }

    /// Starts members with the given names. If a member dies while starting (a port chosen as free
    /// was taken meanwhile), the whole cluster is started again on new ports, at most three times.
    static func start(
        in directory: TemporaryDirectory,
        names: [String],
        executable: String,
        extraArguments: [String],
        peerScheme: String = "http",
        token: (@Sendable (_ peerURLs: [String]) -> String)? = nil,
        clientTLS: EtcdMember.ClientTLS? = nil,
        environment: [String: String] = [:],
        lab: NetworkLab? = nil,
        timeout: Duration
    ) async throws -> EtcdCluster {
        // In a lab each member has an address of its own, so every member uses etcd's ports.
        let hosts = names.indices.map { lab?.address($0) ?? "127.0.0.1" }
        var attempt = 0
        while true {
            attempt += 1
            let ports = lab == nil ? try FreePorts.allocate(2 * names.count)
                : Array(repeating: [2379, 2380], count: names.count).flatMap { $0 }
            let peerURLs = names.indices.map { "\(peerScheme)://\(hosts[$0]):\(ports[2 * $0 + 1])" }
            let initialCluster = names.indices.map { "\(names[$0])=\(peerURLs[$0])" }.joined(separator: ",")
            let clusterToken = token?(peerURLs) ?? "test-\(directory.path.hashValue)"
            var members: [EtcdMember] = []
            do {
                for (index, name) in names.enumerated() {
                    members.append(try EtcdMember.launch(
                        name: name, clientPort: ports[2 * index], peerPort: ports[2 * index + 1],
                        initialCluster: initialCluster, token: clusterToken, peerScheme: peerScheme,
                        executable: executable, extraArguments: extraArguments, directory: directory,
                        clientTLS: clientTLS, environment: environment, host: hosts[index],
                        namespace: lab?.namespace(index)))
                }
                for member in members { try await member.waitUntilHealthy(timeout: timeout) }
                return EtcdCluster(members: members)
            } catch {
                for member in members { await member.stop() }
                guard let harnessError = error as? TestSupportError, case .processExited = harnessError,
                      attempt < 3
                else { throw error }
                for name in names { try? FileManager.default.removeItem(atPath: directory.appending("\(name).etcd")) }
            }
        }
    }

    /// Stops every member.
    public func stop() async {
        for member in members { await member.stop() }
    }
}
