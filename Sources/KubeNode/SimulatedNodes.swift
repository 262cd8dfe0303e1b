import Foundation
import KubeAPI
import Synchronization

/// Nodes without containers, as KWOK simulates them: each registers itself with its capacity,
/// renews its Lease in `kube-node-lease`, and runs the pods bound to it by reporting them
/// Running and Ready after a start delay; a pod being deleted is stopped and removed. One
/// process can be many nodes, for tests at scale.
public final class SimulatedNodes: Sendable {
    public struct Configuration: Sendable {
        /// The nodes' names, capacity, labels and lease.
        public var nodes: NodeRegistration.Configuration
        /// How long a pod takes from bound to Running.
        public var startDelay: Duration = .milliseconds(200)

        public init(names: [String]) { nodes = NodeRegistration.Configuration(names: names) }
    }

    let store: ObjectStore
    let configuration: Configuration
    let pods: Informer
    let registration: NodeRegistration
    let queue = WorkQueue()
    let events: EventRecorder
    /// Pods whose start is under way (their delay running), so that they start once.
    private let starting = Mutex<Set<String>>([])
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!

    public init(store: ObjectStore, configuration: Configuration) {
        self.store = store
        self.configuration = configuration
        pods = Informer(store: store, resource: Self.podResource)
        registration = NodeRegistration(store: store, configuration: configuration.nodes, runtime: "simulated://1.0", port: 0)
        events = EventRecorder(store: store, component: "kubelet")
        let queue = queue
        let names = Set(configuration.nodes.names)
        pods.observe { event in
            guard event.type != "DELETED", let node = event.object[path: ["spec", "nodeName"]]?.stringValue,
                  names.contains(node) else { return }
            queue.add(Informer.key(of: event.object))
        }
    }

    public func run() async throws {
        try await registration.registerAll()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pods.run() }
            group.addTask { await self.registration.heartbeats() }
            group.addTask {
                await self.queue.process { key in try await self.sync(key) }
            }
        }
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
        let index = configuration.nodes.names.firstIndex(of: node) ?? 0
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
