import Foundation
import KubeAPI

/// A node agent's nodes in the store: each registered with its capacity, labels, addresses and
/// the port its agent serves on, its Lease in `kube-node-lease` renewed, its conditions posted.
public struct NodeRegistration: Sendable {
    public struct Configuration: Sendable {
        public var names: [String]
        public var cpu = "4"
        public var memory = "8Gi"
        public var pods = "110"
        public var labels: [String: String] = [:]
        public var leaseDuration: Int64 = 40

        public init(names: [String]) { self.names = names }
    }

    let store: ObjectStore
    let configuration: Configuration
    /// The container runtime reported in the node's info ("simulated://1.0", "process://1.0").
    let runtime: String
    /// The agent's port (logs); 0 when it serves none.
    let port: Int
    static let nodeResource = ResourceCatalog.find(group: "", plural: "nodes")!
    static let leaseResource = ResourceCatalog.find(group: "coordination.k8s.io", plural: "leases")!

    public init(store: ObjectStore, configuration: Configuration, runtime: String, port: Int) {
        self.store = store
        self.configuration = configuration
        self.runtime = runtime
        self.port = port
    }

    public func registerAll() async throws {
        for name in configuration.names { try await register(name) }
    }

    func register(_ name: String) async throws {
        let node = nodeObject(name)
        let prepared = try ObjectRules.prepareForCreate(node, resource: Self.nodeResource, namespace: nil)
        var exists = false
        do {
            _ = try await store.create(Self.nodeResource, prepared)
        } catch {
            guard error.reason == "AlreadyExists" else { throw error }
            exists = true
        }
        if exists {
            // A restarted agent takes its node back: status as now, labels as configured.
            let labels = configuration.labels
            _ = try await store.update(Self.nodeResource, namespace: nil, name: name) { current throws(APIError) in
                var updated = current
                updated["status"] = node["status"]
                for (key, value) in labels { updated[path: ["metadata", "labels", key]] = .string(value) }
                return updated
            }
        }
        try await renewLease(name)
    }

    private func nodeObject(_ name: String) -> JSONValue {
        var labels: [String: JSONValue] = ["kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux",
                                           "kubernetes.io/arch": "amd64"]
        if runtime.hasPrefix("simulated") { labels["type"] = "simulated" }
        for (key, value) in configuration.labels { labels[key] = .string(value) }
        let capacity: JSONValue = ["cpu": .string(configuration.cpu), "memory": .string(configuration.memory),
                                   "pods": .string(configuration.pods)]
        return [
            "apiVersion": "v1", "kind": "Node",
            "metadata": ["name": .string(name), "labels": .object(labels)],
            "spec": [:],
            "status": [
                "capacity": capacity, "allocatable": capacity,
                "conditions": .array(conditions()),
                "addresses": [["type": "InternalIP", "address": "127.0.0.1"], ["type": "Hostname", "address": .string(name)]],
                "daemonEndpoints": ["kubeletEndpoint": ["Port": .int(Int64(port))]],
                "nodeInfo": ["kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux",
                             "architecture": "amd64", "osImage": .string(runtime), "kernelVersion": .string(runtime),
                             "containerRuntimeVersion": .string(runtime), "machineID": .string(name),
                             "systemUUID": .string(name), "bootID": .string(name)],
            ],
        ]
    }

    private func conditions() -> [JSONValue] {
        let now = JSONValue.string(ObjectRules.timestamp(Date()))
        func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
            ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message),
             "lastHeartbeatTime": now, "lastTransitionTime": now]
        }
        return [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
    }

    /// The Lease renewed every quarter of its duration (10 s of 40, as the kubelet does: a node
    /// whose lease is older than the controller's grace period is taken as unreachable), and the
    /// Ready condition's heartbeat every minute.
    public func heartbeats() async {
        let interval = Duration.milliseconds(max(250, configuration.leaseDuration * 250))
        var lastConditions = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let postConditions = lastConditions.duration(to: .now) >= .seconds(60)
            if postConditions { lastConditions = .now }
            for name in configuration.names {
                try? await renewLease(name)
                if postConditions {
                    _ = try? await store.update(Self.nodeResource, namespace: nil, name: name) { current throws(APIError) in
                        var updated = current
                        updated[path: ["status", "conditions"]] = .array(self.conditions())
                        return updated
                    }
                }
            }
        }
    }

    private func renewLease(_ name: String) async throws {
        let now = JSONValue.string(Self.microTime(Date()))
        // (Read first rather than catching NotFound from the update: that shape crashes Swift 6.3's SIL passes.)
        if (try? await store.get(Self.leaseResource, namespace: "kube-node-lease", name: name)) != nil {
            _ = try await store.update(Self.leaseResource, namespace: "kube-node-lease", name: name) { current throws(APIError) in
                var updated = current
                updated[path: ["spec", "renewTime"]] = now
                return updated
            }
            return
        }
        let lease: JSONValue = [
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": ["name": .string(name), "namespace": "kube-node-lease"],
            "spec": ["holderIdentity": .string(name), "leaseDurationSeconds": .int(configuration.leaseDuration),
                     "renewTime": now],
        ]
        let prepared = try ObjectRules.prepareForCreate(lease, resource: Self.leaseResource, namespace: "kube-node-lease")
        _ = try await store.create(Self.leaseResource, prepared)
    }

    /// metav1.MicroTime: RFC 3339 with microseconds.
    static func microTime(_ date: Date) -> String {
        let seconds = ObjectRules.timestamp(date).dropLast()
        let micros = Int((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1_000_000)
        return seconds + "." + String(format: "%06d", micros) + "Z"
    }
}
