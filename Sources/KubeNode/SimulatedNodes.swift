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
        /// The chance (percent) that a container start fails (`--start-failure-percent`); a pod's
        /// `simulated.kube-swift.io/failed-starts: "N"` annotation makes its first N starts fail.
        public var startFailurePercent = 0

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
            try await store.deletePod(pod, gracePeriod: 0)
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

    static let failedStartsAnnotation = "simulated.kube-swift.io/failed-starts"

    /// Starts a pod's containers after the start delay; a start that is to fail is reported as
    /// the kubelet reports a crashed container, and tried again after its backoff (at once, then
    /// 10 s doubling to 5 min) unless the restart policy is Never, which fails the pod.
    private func start(_ pod: JSONValue, key: String) async throws {
        let forcedFailures = Int(pod[path: ["metadata", "annotations", Self.failedStartsAnnotation]]?.stringValue ?? "") ?? 0
        let never = pod[path: ["spec", "restartPolicy"]] == "Never"
        var attempt = 0
        var backoff = Duration.zero
        try await Task.sleep(for: configuration.startDelay)
        while true {
            let fails = attempt < forcedFailures
                || (configuration.startFailurePercent > 0 && Int.random(in: 0..<100) < configuration.startFailurePercent)
            guard try await report(pod, key: key, restarts: attempt, failed: fails, final: never) else { return }
            if !fails || never { return }
            try await Task.sleep(for: backoff)
            backoff = backoff == .zero ? .seconds(10) : min(backoff * 2, .seconds(300))
            attempt += 1
        }
    }

    /// Writes a start's outcome into the pod's status; false when the pod is gone or going.
    private func report(_ pod: JSONValue, key: String, restarts: Int, failed: Bool, final: Bool) async throws -> Bool {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        let node = pod[path: ["spec", "nodeName"]]?.stringValue ?? ""
        let index = configuration.nodes.names.firstIndex(of: node) ?? 0
        let now = JSONValue.string(ObjectRules.timestamp(Date()))
        let uid = PodFacts.uid(pod)
        var alive = true
        _ = try await store.update(Self.podResource, namespace: parts[0], name: parts[1]) { current throws(APIError) in
            guard PodFacts.uid(current) == uid, !PodFacts.isTerminating(current) else {
                alive = false
                return current
            }
            var running = current
            let containers = current[path: ["spec", "containers"]]?.arrayValue ?? []
            running[path: ["status", "phase"]] = failed && final ? "Failed" : "Running"
            running[path: ["status", "hostIP"]] = "127.0.0.1"
            if current[path: ["status", "podIP"]] == nil {
                let address = JSONValue.string("10.244.\(index % 256).\(Int.random(in: 2...254))")
                running[path: ["status", "podIP"]] = address
                running[path: ["status", "podIPs"]] = [["ip": address]]
                running[path: ["status", "startTime"]] = now
            }
            running[path: ["status", "qosClass"]] = "BestEffort"
            var conditions = (current[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"] == "PodScheduled" }
            for type in ["Initialized", "Ready", "ContainersReady"] {
                let status: JSONValue = type == "Initialized" || !failed ? "True" : "False"
                conditions.append(["type": .string(type), "status": status, "lastProbeTime": .null, "lastTransitionTime": now])
            }
            running[path: ["status", "conditions"]] = .array(conditions)
            let crashed: JSONValue = ["terminated": ["exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now]]
            running[path: ["status", "containerStatuses"]] = .array(containers.map { container in
                let name = container["name"]?.stringValue ?? ""
                var status: JSONValue = [
                    "name": .string(name), "image": container["image"] ?? "", "imageID": container["image"] ?? "",
                    "containerID": .string("simulated://\(uid)/\(name)/\(restarts)"),
                    "ready": .bool(!failed), "started": .bool(!failed), "restartCount": .int(Int64(restarts)),
                    "state": !failed ? ["running": ["startedAt": now]]
                        : final ? crashed
                        : ["waiting": ["reason": "CrashLoopBackOff",
                                       "message": .string("back-off restarting failed container=\(name) pod=\(parts[1])_\(parts[0])(\(uid))")]],
                ]
                if restarts > 0 || (failed && !final) { status["lastState"] = crashed }
                return status
            })
            return running
        }
        guard alive else { return false }
        if failed {
            await events.record(pod, type: "Warning", reason: final ? "Failed" : "BackOff",
                                message: final ? "Container exited with status 1" : "Back-off restarting failed container", host: node)
        } else {
            await events.record(pod, reason: "Started", message: "Started pod on simulated node \(node)", host: node)
        }
        return true
    }
}
