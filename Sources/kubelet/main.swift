import Foundation
import KubeAPI
import KubeNode

// The node agent. `--simulated-nodes N` runs N simulated nodes (KWOK-like) in this process,
// named <node-name>-0 ... <node-name>-(N-1); without it, one simulated node named --node-name.

let flags = ComponentFlags(component: "kubelet", known: [
    "--etcd-servers", "--node-name", "--simulated-nodes", "--cpu", "--memory", "--max-pods", "--node-labels",
    "--start-delay-ms", "--node-lease-duration-seconds",
], usage: """
    usage: kubelet --node-name NAME [--simulated-nodes N] [--cpu 4] [--memory 8Gi] [--max-pods 110]
                   [--node-labels k=v,...] [--start-delay-ms 200] [--node-lease-duration-seconds 40]
                   [--etcd-servers URLS]
    """)
guard let name = flags["--node-name"], !name.isEmpty else {
    FileHandle.standardError.write(Data("kubelet: --node-name is required\n".utf8))
    exit(2)
}
let count = flags.number("--simulated-nodes", default: 0)
var configuration = SimulatedNodes.Configuration(names: count == 0 ? [name] : (0..<count).map { "\(name)-\($0)" })
configuration.cpu = flags["--cpu"] ?? configuration.cpu
configuration.memory = flags["--memory"] ?? configuration.memory
configuration.pods = flags["--max-pods"] ?? configuration.pods
configuration.startDelay = .milliseconds(flags.number("--start-delay-ms", default: 200))
configuration.leaseDuration = Int64(max(1, flags.number("--node-lease-duration-seconds", default: 40)))
for pair in (flags["--node-labels"] ?? "").split(separator: ",") {
    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
    configuration.labels[parts[0]] = parts.count > 1 ? parts[1] : ""
}
FileHandle.standardOutput.write(Data("kubelet: simulating \(configuration.names.joined(separator: ", "))\n".utf8))
try await SimulatedNodes(store: flags.store(), configuration: configuration).run()
