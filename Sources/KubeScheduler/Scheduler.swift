import Foundation
import KubeAPI
import Synchronization

/// kube-scheduler: binds each pending pod to a node that can take it (ready, schedulable, its
/// nodeSelector and required node affinity met, its taints tolerated, room for the pod's CPU and
/// memory requests and one more pod), preferring the least loaded node and spreading a
/// workload's replicas across nodes.
public final class Scheduler: Sendable {
    let store: ObjectStore
    let pods: Informer
    let nodes: Informer
    let queue = WorkQueue()
    let events: EventRecorder
    /// Pods bound but not yet seen bound in the informer, counted on their node meanwhile.
    private let assumed = Mutex<[String: (node: String, pod: JSONValue)]>([:])
    static let name = "default-scheduler"

    public init(store: ObjectStore) {
        self.store = store
        pods = Informer(store: store, resource: ResourceCatalog.find(group: "", plural: "pods")!)
        nodes = Informer(store: store, resource: ResourceCatalog.find(group: "", plural: "nodes")!)
        events = EventRecorder(store: store, component: Self.name)
        let queue = queue
        pods.observe { [unowned self] event in
            let key = Informer.key(of: event.object)
            if !(event.object[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty || event.type == "DELETED" {
                _ = self.assumed.withLock { $0.removeValue(forKey: key) }
            }
            if event.type != "DELETED", Self.isPending(event.object) { queue.add(key) }
        }
        // A node joining or changing may fit pods that fit nowhere before.
        let pods = pods
        nodes.observe { event in
            guard event.type != "DELETED" else { return }
            for pod in pods.all where Self.isPending(pod) { queue.add(Informer.key(of: pod)) }
        }
    }

    static func isPending(_ pod: JSONValue) -> Bool {
        (pod[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty && !PodFacts.isTerminating(pod)
            && (pod[path: ["spec", "schedulerName"]]?.stringValue ?? name) == name
            && pod[path: ["status", "phase"]] != "Succeeded" && pod[path: ["status", "phase"]] != "Failed"
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pods.run() }
            group.addTask { await self.nodes.run() }
            group.addTask {
                while !self.pods.hasSynced || !self.nodes.hasSynced { try? await Task.sleep(for: .milliseconds(50)) }
                while !Task.isCancelled {
                    let key = await self.queue.next()
                    await self.schedule(key)
                }
            }
            group.addTask {
                // Pods that fit nowhere are tried again now and then, as the scheduler's backoff queue does.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    for pod in self.pods.all where Self.isPending(pod) { self.queue.add(Informer.key(of: pod)) }
                }
            }
        }
    }

    private func schedule(_ key: String) async {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let pod = pods.get(namespace: parts[0], name: parts[1]), Self.isPending(pod),
              assumed.withLock({ $0[key] == nil }) else { return }
        var placed = pods.all.filter { !($0[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty && PodFacts.isActive($0) }
        let placedKeys = Set(placed.map(Informer.key(of:)))
        for (assumedKey, entry) in assumed.withLock({ $0 }) where !placedKeys.contains(assumedKey) {
            var bound = entry.pod
            bound[path: ["spec", "nodeName"]] = .string(entry.node)
            placed.append(bound)
        }
        let decision = Placement.choose(pod, nodes: nodes.all, placed: placed)
        guard let node = decision.node else {
            await events.record(pod, type: "Warning", reason: "FailedScheduling", message: decision.reason)
            return
        }
        assumed.withLock { $0[key] = (node, pod) }
        do {
            try await store.bind(namespace: parts[0], pod: parts[1], to: node)
            // The event is written beside the next binding, not before it.
            let events = events
            Task { await events.record(pod, reason: "Scheduled", message: "Successfully assigned \(parts[0])/\(parts[1]) to \(node)") }
        } catch {
            _ = assumed.withLock { $0.removeValue(forKey: key) }
            if error.reason != "NotFound" && error.reason != "Conflict" { queue.add(key, after: .seconds(1)) }
        }
    }
}

/// Which node a pod goes to: the scheduler's filters and scores, pure so that they are tested alone.
public enum Placement {
    /// The chosen node, or why none fits ("0/3 nodes are available: 3 Insufficient cpu.").
    public static func choose(_ pod: JSONValue, nodes: [JSONValue], placed: [JSONValue]) -> (node: String?, reason: String) {
        var reasons: [String: Int] = [:]
        var candidates: [(name: String, score: Double)] = []
        let byNode = Dictionary(grouping: placed) { $0[path: ["spec", "nodeName"]]?.stringValue ?? "" }
        let owner = PodFacts.controllerUID(pod)
        for node in nodes {
            let name = PodFacts.name(node)
            let onNode = byNode[name] ?? []
            let used = requested(by: onNode)
            if let reason = unfit(pod, node, onNode, used: used) {
                reasons[reason, default: 0] += 1
                continue
            }
            let (cpu, memory) = allocatable(node)
            let request = PodFacts.requests(pod)
            let freeCPU = cpu > 0 ? Double(cpu - used.cpu - request.cpu) / Double(cpu) : 1
            let freeMemory = memory > 0 ? Double(memory - used.memory - request.memory) / Double(memory) : 1
            let siblings = owner.map { uid in onNode.filter { PodFacts.controllerUID($0) == uid }.count } ?? 0
            // Least requested first; siblings of the same workload weigh more, to spread replicas;
            // the pod count breaks ties between empty nodes.
            let score = (freeCPU + freeMemory) * 50 - Double(siblings) * 100 - Double(onNode.count)
            candidates.append((name, score))
        }
        if let best = candidates.max(by: { $0.score < $1.score || ($0.score == $1.score && $0.name > $1.name) }) {
            return (best.name, "")
        }
        let summary = reasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return (nil, "0/\(nodes.count) nodes are available" + (summary.isEmpty ? "." : ": \(summary)."))
    }

    /// Why the node cannot take the pod, worded as kube-scheduler's filters; nil when it can.
    static func unfit(_ pod: JSONValue, _ node: JSONValue, _ onNode: [JSONValue],
                      used: (cpu: Int64, memory: Int64)) -> String? {
        let ready = (node[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
        if !ready { return "node(s) were not ready" }
        // A cordoned node takes only pods that tolerate its taint (daemon pods do).
        let cordon: JSONValue = ["key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"]
        if node[path: ["spec", "unschedulable"]]?.boolValue == true,
           !(pod[path: ["spec", "tolerations"]]?.arrayValue ?? []).contains(where: { NodeFit.tolerates($0, cordon) }) {
            return "node(s) were unschedulable"
        }
        if let reason = NodeFit.excluded(pod, by: node) { return reason }
        let (cpu, memory) = allocatable(node)
        let request = PodFacts.requests(pod)
        let maxPods = node[path: ["status", "allocatable", "pods"]].flatMap { Quantity.value($0) } ?? 110
        if onNode.count + 1 > maxPods { return "Too many pods" }
        if cpu > 0 && used.cpu + request.cpu > cpu { return "Insufficient cpu" }
        if memory > 0 && used.memory + request.memory > memory { return "Insufficient memory" }
        return nil
    }

    /// The CPU and memory the pods on a node request together.
    static func requested(by pods: [JSONValue]) -> (cpu: Int64, memory: Int64) {
        pods.map(PodFacts.requests).reduce((cpu: Int64(0), memory: Int64(0))) { ($0.cpu + $1.cpu, $0.memory + $1.memory) }
    }

    static func allocatable(_ node: JSONValue) -> (cpu: Int64, memory: Int64) {
        let allocatable = node[path: ["status", "allocatable"]]
        return (allocatable?["cpu"].flatMap { Quantity.milli($0) } ?? 0, allocatable?["memory"].flatMap { Quantity.value($0) } ?? 0)
    }
}
