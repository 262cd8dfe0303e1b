import Foundation
import KubeAPI

/// Keeps each ReplicaSet's number of active pods at its `spec.replicas`, creating pods from its
/// template or deleting the least useful ones, and reports what it sees in its status.
struct ReplicaSetController: Controller {
    let store: ObjectStore
    let replicaSets: Informer
    let pods: Informer
    let queue = WorkQueue()
    let expectations = Expectations()
    static let resource = ResourceCatalog.find(group: "apps", plural: "replicasets")!
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!

    init(manager: ControllerManager) {
        store = manager.store
        replicaSets = manager.informer("replicasets")
        pods = manager.informer("pods")
        let queue = queue
        let expectations = expectations
        replicaSets.observe { event in queue.add(Informer.key(of: event.object)) }
        let replicaSets = replicaSets
        pods.observe { event in
            guard let (key, owner) = expectations.observe(event, ownedBy: "ReplicaSet") else { return }
            // Only the set that owns it: a pod of another set with the same name is not ours.
            if let name = owner["name"]?.stringValue,
               replicaSets.get(namespace: PodFacts.namespace(event.object), name: name).map(PodFacts.uid) == owner["uid"]?.stringValue {
                queue.add(key)
            }
        }
    }

    func allKeys() -> [String] { replicaSets.all.map(Informer.key(of:)) }

    func reconcile(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let set = replicaSets.get(namespace: parts[0], name: parts[1]) else { return }
        let uid = PodFacts.uid(set)
        let owned = pods.list(namespace: parts[0]).filter { PodFacts.controllerUID($0) == uid }
        let active = owned.filter(PodFacts.isActive)
        if !PodFacts.isTerminating(set) && expectations.satisfied(key) {
            let desired = Int(set[path: ["spec", "replicas"]]?.intValue ?? 1)
            if active.count < desired {
                let missing = min(desired - active.count, 500)
                expectations.expect(key, adds: missing)
                let template = set[path: ["spec", "template"]] ?? [:]
                // Sixteen creations at a time: one by one, each waiting for the store's fsync,
                // a large set would take long to fill.
                let store = store
                let expectations = expectations
                let failures = await withTaskGroup(of: Bool.self) { group in
                    var failed = 0
                    for index in 0..<missing {
                        if index >= 16, await group.next() == true { failed += 1 }
                        group.addTask {
                            let pod = PodFacts.pod(from: template, owner: set, generateName: PodFacts.name(set) + "-")
                            do {
                                let prepared = try ObjectRules.prepareForCreate(pod, resource: Self.podResource, namespace: parts[0])
                                _ = try await store.create(Self.podResource, prepared)
                                return false
                            } catch {
                                expectations.observedAdd(key)
                                return true
                            }
                        }
                    }
                    return await group.reduce(failed) { $0 + ($1 ? 1 : 0) }
                }
                if failures > 0 { throw APIError.timeout("\(failures) of \(missing) pods of \(key) could not be created") }
            } else if active.count > desired {
                let victims = Array(Self.deletionOrder(active).prefix(active.count - desired))
                expectations.expect(key, deletes: victims.map(PodFacts.uid))
                for pod in victims {
                    // Gone already or replaced: it will not be seen going.
                    if try await !store.deletePod(pod) { expectations.observedDelete(key, uid: PodFacts.uid(pod)) }
                }
            }
        }
        let ready = active.filter(PodFacts.isReady).count
        let selector = (try? LabelSelector(json: set[path: ["spec", "selector"]] ?? [:])) ?? LabelSelector()
        var status: JSONValue = set["status"] ?? [:]
        status["replicas"] = .int(Int64(active.count))
        status["fullyLabeledReplicas"] = .int(Int64(active.filter { selector.matches(ObjectStore.labels(of: $0)) }.count))
        status["readyReplicas"] = ready > 0 ? .int(Int64(ready)) : nil
        status["availableReplicas"] = ready > 0 ? .int(Int64(ready)) : nil
        status["observedGeneration"] = set[path: ["metadata", "generation"]] ?? 1
        try await store.writeStatus(Self.resource, of: set, status)
    }

    /// The pods to delete first, as Kubernetes ranks them: unscheduled before scheduled, pending
    /// before running, not ready before ready, and the newest first.
    static func deletionOrder(_ pods: [JSONValue]) -> [JSONValue] {
        func rank(_ pod: JSONValue) -> (Int, Int, Int, String) {
            let scheduled = (pod[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty ? 0 : 1
            let running = pod[path: ["status", "phase"]] == "Running" ? 1 : 0
            let ready = PodFacts.isReady(pod) ? 1 : 0
            return (scheduled, running, ready, pod[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "")
        }
        return pods.sorted { first, second in
            let (a, b) = (rank(first), rank(second))
            if (a.0, a.1, a.2) != (b.0, b.1, b.2) { return (a.0, a.1, a.2) < (b.0, b.1, b.2) }
            return a.3 > b.3
        }
    }
}
