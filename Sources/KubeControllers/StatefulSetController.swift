import Foundation
import KubeAPI

/// Runs a StatefulSet's pods under stable names `<set>-<ordinal>`, each with its own volume
/// claims `<claim>-<set>-<ordinal>` made from the set's `volumeClaimTemplates` (kept when the pod
/// goes, as Kubernetes keeps them). With the default OrderedReady policy a pod is created only
/// when every lower ordinal is Running and Ready, the highest ordinal is removed first and only
/// when all others are, and a new template replaces pods one at a time from the highest down.
struct StatefulSetController: Controller {
    let store: ObjectStore
    let statefulSets: Informer
    let pods: Informer
    let claims: Informer
    let revisions: Informer
    let queue = WorkQueue()
    static let resource = ResourceCatalog.find(group: "apps", plural: "statefulsets")!
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!
    static let claimResource = ResourceCatalog.find(group: "", plural: "persistentvolumeclaims")!
    static let hashLabel = "controller-revision-hash"
    static let podNameLabel = "statefulset.kubernetes.io/pod-name"

    init(manager: ControllerManager) {
        store = manager.store
        statefulSets = manager.informer("statefulsets")
        pods = manager.informer("pods")
        claims = manager.informer("persistentvolumeclaims")
        revisions = manager.informer("controllerrevisions")
        let queue = queue
        statefulSets.observe { event in queue.add(Informer.key(of: event.object)) }
        pods.observe { event in
            guard let owner = PodFacts.controllerRef(event.object), owner["kind"] == "StatefulSet",
                  let name = owner["name"]?.stringValue else { return }
            queue.add(Informer.key(namespace: PodFacts.namespace(event.object), name: name))
        }
    }

    func allKeys() -> [String] { statefulSets.all.map(Informer.key(of:)) }

    func reconcile(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let set = statefulSets.get(namespace: parts[0], name: parts[1]) else { return }
        let name = parts[1]
        let template = set[path: ["spec", "template"]] ?? [:]
        let updateRevision = "\(name)-\(PodFacts.templateHash(template))"
        let replicas = Int(set[path: ["spec", "replicas"]]?.intValue ?? 1)
        let parallel = set[path: ["spec", "podManagementPolicy"]] == "Parallel"
        var byOrdinal: [Int: JSONValue] = [:]
        for pod in pods.list(namespace: parts[0]) where PodFacts.controllerUID(pod) == PodFacts.uid(set) {
            if let ordinal = Self.ordinal(of: PodFacts.name(pod), set: name) { byOrdinal[ordinal] = pod }
        }
        func healthy(_ pod: JSONValue) -> Bool {
            !PodFacts.isTerminating(pod) && pod[path: ["status", "phase"]] == "Running" && PodFacts.isReady(pod)
        }

        if !PodFacts.isTerminating(set) {
            try await ControllerRevisions.record(template, named: updateRevision, owner: set, store: store, revisions: revisions)
            var allHealthy = true
            for ordinal in 0..<replicas {
                guard let pod = byOrdinal[ordinal] else {
                    try await create(set, ordinal: ordinal, template: template, revision: updateRevision)
                    allHealthy = false
                    if parallel { continue } else { break }
                }
                if pod[path: ["status", "phase"]] == "Failed" && !PodFacts.isTerminating(pod) {
                    // A failed pod is replaced under the same name.
                    try await store.deletePod(pod)
                }
                if !healthy(pod) {
                    allHealthy = false
                    if !parallel { break }
                }
            }
            let condemned = byOrdinal.filter { $0.key >= replicas }.sorted { $0.key > $1.key }.map(\.value)
            if parallel {
                for pod in condemned where !PodFacts.isTerminating(pod) { try await store.deletePod(pod) }
            } else if allHealthy, let highest = condemned.first, !condemned.contains(where: PodFacts.isTerminating) {
                try await store.deletePod(highest)
            }
            // Rolling update: one pod at a time, from the highest ordinal down to the partition.
            let partition = Int(set[path: ["spec", "updateStrategy", "rollingUpdate", "partition"]]?.intValue ?? 0)
            if set[path: ["spec", "updateStrategy", "type"]] != "OnDelete", allHealthy, condemned.isEmpty,
               let outdated = (partition..<max(partition, replicas)).reversed().compactMap({ byOrdinal[$0] })
                .first(where: { ObjectStore.labels(of: $0)[Self.hashLabel] != updateRevision }) {
                try await store.deletePod(outdated)
            }
        }

        let active = byOrdinal.values.filter { !PodFacts.isTerminating($0) }
        let updated = active.filter { ObjectStore.labels(of: $0)[Self.hashLabel] == updateRevision }.count
        let ready = active.filter(PodFacts.isReady).count
        var status: JSONValue = set["status"] ?? [:]
        var currentRevision = status["currentRevision"]?.stringValue ?? updateRevision
        if updated == replicas && active.count == replicas && ready == replicas { currentRevision = updateRevision }
        status["replicas"] = .int(Int64(active.count))
        status["readyReplicas"] = ready > 0 ? .int(Int64(ready)) : nil
        status["currentReplicas"] = .int(Int64(active.filter { ObjectStore.labels(of: $0)[Self.hashLabel] == currentRevision }.count))
        status["updatedReplicas"] = .int(Int64(updated))
        status["currentRevision"] = .string(currentRevision)
        status["updateRevision"] = .string(updateRevision)
        status["collisionCount"] = 0
        status["observedGeneration"] = set[path: ["metadata", "generation"]] ?? 1
        try await store.writeStatus(Self.resource, of: set, status)
    }

    /// The ordinal in `<set>-<ordinal>`, or nil for a name of another shape.
    static func ordinal(of pod: String, set: String) -> Int? {
        guard pod.hasPrefix(set + "-") else { return nil }
        let suffix = pod.dropFirst(set.count + 1)
        guard let number = Int(suffix), number >= 0, String(number) == suffix else { return nil }
        return number
    }

    /// The pod of one ordinal, after its volume claims.
    private func create(_ set: JSONValue, ordinal: Int, template: JSONValue, revision: String) async throws {
        let namespace = PodFacts.namespace(set)
        let podName = "\(PodFacts.name(set))-\(ordinal)"
        var pod = PodFacts.pod(from: template, owner: set, name: podName)
        pod[path: ["metadata", "labels", Self.hashLabel]] = .string(revision)
        pod[path: ["metadata", "labels", Self.podNameLabel]] = .string(podName)
        pod[path: ["spec", "hostname"]] = .string(podName)
        if let service = set[path: ["spec", "serviceName"]]?.stringValue, !service.isEmpty {
            pod[path: ["spec", "subdomain"]] = .string(service)
        }
        var volumes = pod[path: ["spec", "volumes"]]?.arrayValue ?? []
        for claimTemplate in set[path: ["spec", "volumeClaimTemplates"]]?.arrayValue ?? [] {
            let claimName = PodFacts.name(claimTemplate)
            let name = "\(claimName)-\(podName)"
            if claims.get(namespace: namespace, name: name) == nil {
                var claim: JSONValue = [
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": ["name": .string(name), "namespace": .string(namespace)],
                    "spec": claimTemplate["spec"] ?? [:],
                    "status": ["phase": "Pending"],
                ]
                if let labels = set[path: ["spec", "selector", "matchLabels"]] { claim[path: ["metadata", "labels"]] = labels }
                do {
                    let prepared = try ObjectRules.prepareForCreate(claim, resource: Self.claimResource, namespace: namespace)
                    _ = try await store.create(Self.claimResource, prepared)
                } catch {
                    guard error.reason == "AlreadyExists" else { throw error }
                }
            }
            volumes.removeAll { $0["name"]?.stringValue == claimName }
            volumes.append(["name": .string(claimName), "persistentVolumeClaim": ["claimName": .string(name)]])
        }
        if !volumes.isEmpty { pod[path: ["spec", "volumes"]] = .array(volumes) }
        do {
            let prepared = try ObjectRules.prepareForCreate(pod, resource: Self.podResource, namespace: namespace)
            _ = try await store.create(Self.podResource, prepared)
        } catch {
            // Created already; the informer had not shown it yet.
            guard error.reason == "AlreadyExists" else { throw error }
        }
    }
}
