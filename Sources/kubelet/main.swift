import Foundation
import KubeAPI
import KubeNode

// The node agent. With `--runtime simulated` (the default) its nodes run no containers (KWOK-like):
// `--simulated-nodes N` makes N of them, named <node-name>-0 ... <node-name>-(N-1), else one named
// --node-name. With `--runtime process` it is one node whose containers' commands run as local
// processes, their logs under --root-dir and served on --port for `kubectl logs`.

let flags = ComponentFlags(component: "kubelet", known: [
    "--etcd-servers", "--node-name", "--runtime", "--simulated-nodes", "--cpu", "--memory", "--max-pods", "--node-labels",
    "--start-delay-ms", "--node-lease-duration-seconds", "--root-dir", "--port", "--housekeeping-interval", "--start-failure-percent",
], usage: """
    usage: kubelet --node-name NAME [--runtime simulated|process] [--cpu 4] [--memory 8Gi] [--max-pods 110]
                   [--node-labels k=v,...] [--node-lease-duration-seconds 40] [--etcd-servers URLS]
           simulated: [--simulated-nodes N] [--start-delay-ms 200] [--start-failure-percent 0]
           process:   [--root-dir DIR (default ./kubelet-NAME)] [--port 10250 (0 picks one)]
                      [--housekeeping-interval 10s (how often pods' CPU use is reported)]
    """)
guard let name = flags["--node-name"], !name.isEmpty else {
    FileHandle.standardError.write(Data("kubelet: --node-name is required\n".utf8))
    exit(2)
}
let runtime = flags["--runtime"] ?? "simulated"
guard runtime == "simulated" || runtime == "process" else {
    FileHandle.standardError.write(Data("kubelet: --runtime must be simulated or process, not \(runtime)\n".utf8))
    exit(2)
}
let count = flags.number("--simulated-nodes", default: 0)
var node = NodeRegistration.Configuration(names: count == 0 || runtime == "process" ? [name] : (0..<count).map { "\(name)-\($0)" })
node.cpu = flags["--cpu"] ?? node.cpu
node.memory = flags["--memory"] ?? node.memory
node.pods = flags["--max-pods"] ?? node.pods
node.leaseDuration = Int64(max(1, flags.number("--node-lease-duration-seconds", default: 40)))
for pair in (flags["--node-labels"] ?? "").split(separator: ",") {
    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
    node.labels[parts[0]] = parts.count > 1 ? parts[1] : ""
}

if runtime == "process" {
    var configuration = ProcessNode.Configuration(name: name, root: flags["--root-dir"] ?? "kubelet-\(name)")
    configuration.node = node
    configuration.port = flags.number("--port", default: 10250)
    configuration.usagePeriod = flags.duration("--housekeeping-interval", default: configuration.usagePeriod)
    try FileManager.default.createDirectory(atPath: configuration.root, withIntermediateDirectories: true)
    let agent = ProcessNode(store: flags.store(), configuration: configuration)
    let signalSources = agent.stopOnTermination()
    defer { withExtendedLifetime(signalSources) {} }
    do {
        try await agent.run()
    } catch {
        FileHandle.standardError.write(Data("kubelet: \(error)\n".utf8))
        await agent.stopAll()
        exit(1)
    }
} else {
    var configuration = SimulatedNodes.Configuration(names: node.names)
    configuration.nodes = node
    configuration.startDelay = .milliseconds(flags.number("--start-delay-ms", default: 200))
    configuration.startFailurePercent = min(100, flags.number("--start-failure-percent", default: 0))
    FileHandle.standardOutput.write(Data("kubelet: simulating \(node.names.joined(separator: ", "))\n".utf8))
    do {
        try await SimulatedNodes(store: flags.store(), configuration: configuration).run()
    } catch {
        FileHandle.standardError.write(Data("kubelet: \(error)\n".utf8))
        exit(1)
    }
}
