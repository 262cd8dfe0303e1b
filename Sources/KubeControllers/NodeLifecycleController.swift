import Foundation
import KubeAPI
import Synchronization

/// How quickly the control plane gives up on a silent node (kube-controller-manager's flags).
public struct NodeLifecycleOptions: Sendable {
    /// How often nodes are looked at (`--node-monitor-period`).
    public var monitorPeriod: Duration = .seconds(5)
    /// How long a node may go without renewing its Lease before it is taken as unreachable
    /// (`--node-monitor-grace-period`).
    public var gracePeriod: Duration = .seconds(40)
    /// How long pods that do not tolerate an unreachable or not-ready node stay on it
    /// (`--pod-eviction-timeout`; tolerations with `tolerationSeconds` set their own time).
    public var podEvictionTimeout: Duration = .seconds(300)

    public init() {}
}

/// Node lifecycle and pod garbage collection: a node whose kubelet stops renewing its Lease in
/// `kube-node-lease` gets its conditions set to Unknown and the `unreachable` taints; pods there
/// that do not tolerate them are evicted after the eviction timeout (they stay Terminating until
/// the node comes back or is deleted, as on Kubernetes); pods bound to a node that no longer
/// exists are deleted at once.
///
/// A renewal counts from when this controller saw it, not from the time written in the Lease,
/// so that clocks of other machines do not matter.
final class NodeLifecycleController: Sendable {
    let store: ObjectStore
    let nodes: Informer
    let pods: Informer
    let options: NodeLifecycleOptions
    let events: EventRecorder
    private let renewals = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Pods seen bound to a missing node in the previous pass: deleted if still so in this one,
    /// so that a node and its pods arriving in either order are not mistaken for orphans.
    private let orphans = Mutex<Set<String>>([])
    static let nodeResource = ResourceCatalog.find(group: "", plural: "nodes")!
    static let unreachable = "node.kubernetes.io/unreachable"
    static let notReady = "node.kubernetes.io/not-ready"

    init(manager: ControllerManager, options: NodeLifecycleOptions) {
        store = manager.store
        nodes = manager.informer("nodes")
        pods = manager.informer("pods")
        self.options = options
        events = EventRecorder(store: manager.store, component: "node-controller")
        manager.informer("leases").observe { [weak self] event in
            guard event.type != "DELETED", PodFacts.namespace(event.object) == "kube-node-lease" else { return }
            self?.renewals.withLock { $0[PodFacts.name(event.object)] = .now }
        }
    }

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.monitorPeriod)
            guard nodes.hasSynced && pods.hasSynced else { continue }
            await monitor()
        }
    }

    func monitor() async {
        let now = ContinuousClock.now
        let allNodes = nodes.all
        for node in allNodes {
            let name = PodFacts.name(node)
            // A node never seen renewing counts from now: its kubelet gets the whole grace period.
            let renewed = renewals.withLock { renewals in
                if let seen = renewals[name] { return seen }
                renewals[name] = now
                return now
            }
            let alive = renewed.duration(to: now) <= options.gracePeriod
            do {
                try await update(node, alive: alive)
            } catch {
                // Looked at again in the next pass.
            }
        }
        await evict(nodes: allNodes)
        await collectOrphans(nodes: Set(allNodes.map(PodFacts.name)))
    }

    /// Sets the conditions to Unknown when the node went silent, and its taints to what its
    /// state calls for.
    private func update(_ node: JSONValue, alive: Bool) async throws {
        let ready = Self.readyStatus(node)
        let silent = !alive && ready != "Unknown"
        let wanted: String? = !alive ? Self.unreachable : (ready == "True" ? nil : Self.notReady)
        let taints = node[path: ["spec", "taints"]]?.arrayValue ?? []
        let managed = taints.filter { [Self.unreachable, Self.notReady].contains($0["key"]?.stringValue ?? "") }
        let taintsAsWanted = wanted.map { key in managed.count == 2 && managed.allSatisfy { $0["key"]?.stringValue == key } }
            ?? managed.isEmpty
        guard silent || !taintsAsWanted else { return }
        let stamp = JSONValue.string(ObjectRules.timestamp(Date()))
        let updated = try await store.update(Self.nodeResource, namespace: nil, name: PodFacts.name(node)) { current throws(APIError) in
            guard PodFacts.uid(current) == PodFacts.uid(node) else { throw APIError.notFound(Self.nodeResource, PodFacts.name(node)) }
            var changed = current
            if silent {
                changed[path: ["status", "conditions"]] = .array((current[path: ["status", "conditions"]]?.arrayValue ?? []).map { condition in
                    var condition = condition
                    condition["status"] = "Unknown"
                    condition["reason"] = "NodeStatusUnknown"
                    condition["message"] = "Kubelet stopped posting node status."
                    condition["lastTransitionTime"] = stamp
                    return condition
                })
            }
            let kept = (current[path: ["spec", "taints"]]?.arrayValue ?? []).filter { taint in
                ![Self.unreachable, Self.notReady].contains(taint["key"]?.stringValue ?? "")
                    || (taint["key"]?.stringValue == wanted)
            }
            var taints = kept
            if let wanted {
                for effect in ["NoSchedule", "NoExecute"] where !kept.contains(where: { $0["key"]?.stringValue == wanted && $0["effect"]?.stringValue == effect }) {
                    var taint: JSONValue = ["key": .string(wanted), "effect": .string(effect)]
                    if effect == "NoExecute" { taint["timeAdded"] = stamp }
                    taints.append(taint)
                }
            }
            changed[path: ["spec", "taints"]] = taints.isEmpty ? nil : .array(taints)
            return changed
        }
        if silent {
            await events.record(updated, reason: "NodeNotReady", message: "Node \(PodFacts.name(node)) status is now: NodeNotReady")
        }
    }

    /// Deletes the pods whose node has a NoExecute taint they do not tolerate (after the
    /// eviction timeout) or tolerate only for a while (after that while).
    private func evict(nodes: [JSONValue]) async {
        let tainted = Dictionary(uniqueKeysWithValues: nodes.compactMap { node -> (String, [JSONValue])? in
            let taints = (node[path: ["spec", "taints"]]?.arrayValue ?? []).filter { $0["effect"] == "NoExecute" }
            return taints.isEmpty ? nil : (PodFacts.name(node), taints)
        })
        guard !tainted.isEmpty else { return }
        let now = Date()
        for pod in pods.all where !PodFacts.isTerminating(pod) {
            guard let taints = tainted[pod[path: ["spec", "nodeName"]]?.stringValue ?? ""] else { continue }
            let due = taints.contains { taint in
                let added = taint["timeAdded"]?.stringValue.flatMap(ObjectRules.date) ?? now
                let tolerations = (pod[path: ["spec", "tolerations"]]?.arrayValue ?? []).filter { NodeFit.tolerates($0, taint) }
                let allowed: TimeInterval
                if tolerations.isEmpty {
                    allowed = Double(options.podEvictionTimeout.components.seconds)
                } else if tolerations.contains(where: { $0["tolerationSeconds"] == nil }) {
                    return false
                } else {
                    allowed = Double(tolerations.compactMap { $0["tolerationSeconds"]?.intValue }.min() ?? 0)
                }
                return now.timeIntervalSince(added) >= allowed
            }
            guard due else { continue }
            // A failure is tried again in the next pass.
            if (try? await store.deletePod(pod)) == true {
                await events.record(pod, reason: "TaintManagerEviction",
                                    message: "Marking for deletion Pod \(PodFacts.namespace(pod))/\(PodFacts.name(pod))")
            }
        }
    }

    /// Force-deletes pods bound to a node that does not exist (two passes in a row).
    private func collectOrphans(nodes: Set<String>) async {
        let orphaned = pods.all.filter { pod in
            let node = pod[path: ["spec", "nodeName"]]?.stringValue ?? ""
            return !node.isEmpty && !nodes.contains(node)
        }
        let previous = orphans.withLock { previous in
            defer { previous = Set(orphaned.map(PodFacts.uid)) }
            return previous
        }
        for pod in orphaned where previous.contains(PodFacts.uid(pod)) {
            _ = try? await store.deletePod(pod, gracePeriod: 0)
        }
    }

    static func readyStatus(_ node: JSONValue) -> String {
        (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }?["status"]?.stringValue ?? "Unknown"
    }
}
