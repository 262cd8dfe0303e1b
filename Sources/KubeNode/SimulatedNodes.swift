import Foundation
import KubeAPI
import Synchronization

/// Nodes without containers, as KWOK simulates them: each registers itself with its capacity,
/// renews its Lease in `kube-node-lease`, and runs the pods bound to it by reporting them
/// Running and Ready after a start delay; a pod being deleted is stopped and removed. One
/// process can be many nodes, for tests at scale.
public final class SimulatedNodes: Sendable {
    public struct Configuration: Sendable {
        public var names: [String]
        public var cpu = "4"
        public var memory = "8Gi"
        public var pods = "110"
        public var labels: [String: String] = [:]
        /// How long a pod takes from bound to Running.
        public var startDelay: Duration = .milliseconds(200)
        public var leaseDuration: Int64 = 40

        public init(names: [String]) { self.names = names }
    }

    let store: ObjectStore
    let configuration: Configuration
    let pods: Informer
    let queue = WorkQueue()
    let events: EventRecorder
    /// Pods whose start is under way (their delay running), so that they start once.
    private let starting = Mutex<Set<String>>([])
    static let nodeResource = ResourceCatalog.find(group: "", plural: "nodes")!
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!
    static let leaseResource = ResourceCatalog.find(group: "coordination.k8s.io", plural: "leases")!

    public init(store: ObjectStore, configuration: Configuration) {
        self.store = store
        self.configuration = configuration
        pods = Informer(store: store, resource: Self.podResource)
        events = EventRecorder(store: store, component: "kubelet")
        let queue = queue
        let names = Set(configuration.names)
        pods.observe { event in
            guard event.type != "DELETED", let node = event.object[path: ["spec", "nodeName"]]?.stringValue,
                  names.contains(node) else { return }
            queue.add(Informer.key(of: event.object))
        }
    }

    public func run() async throws {
        for name in configuration.names { try await register(name) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pods.run() }
            group.addTask { await self.heartbeats() }
            group.addTask {
                while !Task.isCancelled {
                    let key = await self.queue.next()
                    do {
                        try await self.sync(key)
                    } catch {
                        self.queue.add(key, after: .seconds(1))
                    }
                }
            }
        }
    }

    // MARK: Nodes

    private func register(_ name: String) async throws {
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
                                           "kubernetes.io/arch": "amd64", "type": "simulated"]
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
                "daemonEndpoints": ["kubeletEndpoint": ["Port": 0]],
                "nodeInfo": ["kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux",
                             "architecture": "amd64", "osImage": "simulated", "kernelVersion": "simulated",
                             "containerRuntimeVersion": "simulated://1.0", "machineID": .string(name),
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
    private func heartbeats() async {
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

    // MARK: Pods

    private func sync(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let pod = pods.get(namespace: parts[0], name: parts[1]) else { return }
        if PodFacts.isTerminating(pod) {
            // Nothing runs, so stopping is immediate: the pod goes with a grace period of 0.
            do {
                _ = try await store.delete(Self.podResource, namespace: parts[0], name: parts[1], propagation: nil,
                                           gracePeriod: 0, preconditions: ["uid": .string(PodFacts.uid(pod))])
            } catch {
                // Gone already, or replaced by a pod of the same name: nothing left to stop.
                guard error.reason == "NotFound" || error.reason == "Conflict" else { throw error }
            }
            return
        }
        guard pod[path: ["status", "phase"]] == "Pending", pod[path: ["status", "containerStatuses"]] == nil,
              starting.withLock({ $0.insert(key).inserted }) else { return }
        // Pods start side by side, each after its own delay, as containers on real nodes do.
        Task {
            defer { _ = self.starting.withLock { $0.remove(key) } }
            do {
                try await self.start(pod, key: key)
            } catch {
                self.queue.add(key, after: .seconds(1))
            }
        }
    }

    private func start(_ pod: JSONValue, key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        try await Task.sleep(for: configuration.startDelay)
        let node = pod[path: ["spec", "nodeName"]]?.stringValue ?? ""
        let index = configuration.names.firstIndex(of: node) ?? 0
        let started = JSONValue.string(ObjectRules.timestamp(Date()))
        let uid = PodFacts.uid(pod)
        _ = try await store.update(Self.podResource, namespace: parts[0], name: parts[1]) { current throws(APIError) in
            guard PodFacts.uid(current) == uid, !PodFacts.isTerminating(current) else { return current }
            var running = current
            let containers = current[path: ["spec", "containers"]]?.arrayValue ?? []
            running[path: ["status", "phase"]] = "Running"
            running[path: ["status", "hostIP"]] = "127.0.0.1"
            let address = JSONValue.string("10.244.\(index % 256).\(Int.random(in: 2...254))")
            running[path: ["status", "podIP"]] = address
            running[path: ["status", "podIPs"]] = [["ip": address]]
            running[path: ["status", "startTime"]] = started
            running[path: ["status", "qosClass"]] = "BestEffort"
            var conditions = (current[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"] == "PodScheduled" }
            for type in ["Initialized", "Ready", "ContainersReady"] {
                conditions.append(["type": .string(type), "status": "True", "lastProbeTime": .null, "lastTransitionTime": started])
            }
            running[path: ["status", "conditions"]] = .array(conditions)
            running[path: ["status", "containerStatuses"]] = .array(containers.map { container in
                ["name": container["name"] ?? "", "image": container["image"] ?? "", "imageID": container["image"] ?? "",
                 "containerID": .string("simulated://\(uid)/\(container["name"]?.stringValue ?? "")"),
                 "ready": true, "started": true, "restartCount": 0, "state": ["running": ["startedAt": started]]]
            })
            return running
        }
        await events.record(pod, reason: "Started", message: "Started pod on simulated node \(node)", host: node)
    }
}
