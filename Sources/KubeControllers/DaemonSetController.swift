import Foundation
import KubeAPI

/// Runs one pod of each DaemonSet on every node that wants it (its nodeSelector, affinity and
/// taints allow it), following nodes as they join and leave; a changed template rolls out node
/// by node, at most `maxUnavailable` pods down at a time.
///
/// As in Kubernetes since 1.12, the pods are placed by the scheduler: each carries a required
/// node affinity on its node's name, and tolerates the taints a node gets when it is not ready,
/// unreachable, under pressure or cordoned.
struct DaemonSetController: Controller {
    let store: ObjectStore
    let daemonSets: Informer
    let pods: Informer
    let nodes: Informer
    let revisions: Informer
    let queue = WorkQueue()
    let expectations = Expectations()
    static let resource = ResourceCatalog.find(group: "apps", plural: "daemonsets")!
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!
    static let hashLabel = "controller-revision-hash"
    static let generationLabel = "pod-template-generation"

    init(manager: ControllerManager) {
        store = manager.store
        daemonSets = manager.informer("daemonsets")
        pods = manager.informer("pods")
        nodes = manager.informer("nodes")
        revisions = manager.informer("controllerrevisions")
        let queue = queue
        let expectations = expectations
        daemonSets.observe { event in queue.add(Informer.key(of: event.object)) }
        pods.observe { event in
            if let (key, _) = expectations.observe(event, ownedBy: "DaemonSet") { queue.add(key) }
        }
        // A node joining, leaving or changing labels, taints or readiness may concern every set.
        let daemonSets = daemonSets
        nodes.observe { _ in
            for set in daemonSets.all { queue.add(Informer.key(of: set)) }
        }
    }

    func allKeys() -> [String] { daemonSets.all.map(Informer.key(of:)) }

    func reconcile(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let set = daemonSets.get(namespace: parts[0], name: parts[1]) else { return }
        let uid = PodFacts.uid(set)
        let template = set[path: ["spec", "template"]] ?? [:]
        let hash = PodFacts.templateHash(template)
        let generation = set[path: ["metadata", "generation"]]?.intValue ?? 1
        let existingNodes = nodes.all
        let nodeNames = Set(existingNodes.map(PodFacts.name))
        let owned = pods.list(namespace: parts[0]).filter { PodFacts.controllerUID($0) == uid && PodFacts.isActive($0) }
        // Pods of a node that no longer exists are the pod garbage collector's to remove.
        let byNode = Dictionary(grouping: owned.filter { nodeNames.contains(Self.node(of: $0)) }, by: Self.node(of:))
        let probe = Self.pod(for: set, template: template, node: "", hash: hash, generation: generation)
        // A node wants a new pod when nothing excludes it; a pod already there stays unless a
        // NoExecute taint or the node's labels now exclude it (a NotReady node keeps its pod).
        let wanted = existingNodes.filter { node in
            NodeFit.excluded(probe, by: node, effects: byNode[PodFacts.name(node)] == nil ? ["NoSchedule", "NoExecute"] : ["NoExecute"]) == nil
        }.map(PodFacts.name)

        if !PodFacts.isTerminating(set) && expectations.satisfied(key) {
            try await ControllerRevisions.record(template, named: "\(parts[1])-\(hash)", owner: set, store: store, revisions: revisions)
            var creations: [String] = []
            var deletions: [JSONValue] = []
            for node in wanted {
                let running = (byNode[node] ?? []).sorted { Self.created($0) < Self.created($1) }
                if running.isEmpty { creations.append(node) } else { deletions += running.dropFirst() }
            }
            let wantedSet = Set(wanted)
            for (node, running) in byNode where !wantedSet.contains(node) { deletions += running }
            deletions += outdatedToReplace(set, hash: hash, byNode: byNode, wanted: wanted, alreadyDeleting: deletions)
            expectations.expect(key, adds: creations.count, deletes: deletions.map(PodFacts.uid))
            for node in creations {
                let pod = Self.pod(for: set, template: template, node: node, hash: hash, generation: generation)
                do {
                    let prepared = try ObjectRules.prepareForCreate(pod, resource: Self.podResource, namespace: parts[0])
                    _ = try await store.create(Self.podResource, prepared)
                } catch {
                    expectations.observedAdd(key)
                    throw error
                }
            }
            for pod in deletions {
                // Gone already or replaced: it will not be seen going.
                if try await !store.deletePod(pod) { expectations.observedDelete(key, uid: PodFacts.uid(pod)) }
            }
        }

        let scheduled = wanted.filter { byNode[$0] != nil }
        let current = scheduled.compactMap { byNode[$0]?.first }
        let ready = current.filter(PodFacts.isReady)
        let updated = current.filter { ObjectStore.labels(of: $0)[Self.hashLabel] == hash }
        var status: JSONValue = set["status"] ?? [:]
        status["desiredNumberScheduled"] = .int(Int64(wanted.count))
        status["currentNumberScheduled"] = .int(Int64(scheduled.count))
        status["numberMisscheduled"] = .int(Int64(byNode.keys.filter { !wanted.contains($0) }.count))
        status["numberReady"] = .int(Int64(ready.count))
        status["numberAvailable"] = ready.isEmpty ? nil : .int(Int64(ready.count))
        status["numberUnavailable"] = wanted.count > ready.count ? .int(Int64(wanted.count - ready.count)) : nil
        status["updatedNumberScheduled"] = updated.isEmpty ? nil : .int(Int64(updated.count))
        status["observedGeneration"] = .int(generation)
        try await store.writeStatus(Self.resource, of: set, status)
    }

    /// The pods of an old template to delete now so that new ones replace them: not ready ones
    /// first, then ready ones while fewer than `maxUnavailable` of the wanted nodes are without a
    /// ready pod.
    private func outdatedToReplace(_ set: JSONValue, hash: String, byNode: [String: [JSONValue]], wanted: [String],
                                   alreadyDeleting: [JSONValue]) -> [JSONValue] {
        guard set[path: ["spec", "updateStrategy", "type"]] != "OnDelete" else { return [] }
        let deleting = Set(alreadyDeleting.map(PodFacts.uid))
        let pods = wanted.compactMap { byNode[$0]?.first }.filter { !deleting.contains(PodFacts.uid($0)) }
        let outdated = pods.filter { ObjectStore.labels(of: $0)[Self.hashLabel] != hash }
        guard !outdated.isEmpty else { return [] }
        let maxUnavailable = Int(DeploymentController.resolve(set[path: ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"]] ?? 1,
                                                              of: Int64(wanted.count), roundUp: false))
        let unavailable = wanted.count - pods.filter(PodFacts.isReady).count
        var chosen = outdated.filter { !PodFacts.isReady($0) }
        let budget = max(0, max(1, maxUnavailable) - unavailable)
        chosen += outdated.filter(PodFacts.isReady).prefix(budget)
        return chosen
    }

    /// The node a daemon pod is for: where it is bound, else the one its affinity names.
    static func node(of pod: JSONValue) -> String {
        if let bound = pod[path: ["spec", "nodeName"]]?.stringValue, !bound.isEmpty { return bound }
        let terms = pod[path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?.arrayValue ?? []
        for term in terms {
            for field in term["matchFields"]?.arrayValue ?? [] where field["key"] == "metadata.name" {
                if let name = field["values"]?.arrayValue?.first?.stringValue { return name }
            }
        }
        return ""
    }

    static func created(_ pod: JSONValue) -> String { pod[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "" }

    /// The set's pod for `node`: its template, pinned to the node by affinity, with the
    /// tolerations every daemon pod has.
    static func pod(for set: JSONValue, template: JSONValue, node: String, hash: String, generation: Int64) -> JSONValue {
        var pod = PodFacts.pod(from: template, owner: set, generateName: PodFacts.name(set) + "-")
        pod[path: ["metadata", "labels", hashLabel]] = .string(hash)
        pod[path: ["metadata", "labels", generationLabel]] = .string(String(generation))
        if !node.isEmpty {
            let term: JSONValue = ["matchFields": [["key": "metadata.name", "operator": "In", "values": [.string(node)]]]]
            pod[path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]] = ["nodeSelectorTerms": [term]]
        }
        var tolerations = pod[path: ["spec", "tolerations"]]?.arrayValue ?? []
        let defaults: [(String, String)] = [
            ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ]
        for (key, effect) in defaults where !tolerations.contains(where: { $0["key"]?.stringValue == key && $0["effect"]?.stringValue == effect }) {
            tolerations.append(["key": .string(key), "operator": "Exists", "effect": .string(effect)])
        }
        pod[path: ["spec", "tolerations"]] = .array(tolerations)
        return pod
    }
}
