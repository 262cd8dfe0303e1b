import Foundation
import KubeAPI

/// Rolls each Deployment's pod template out through ReplicaSets, as Kubernetes' deployment
/// controller does: one ReplicaSet per template (named by the template's hash, its revision in
/// an annotation), scaled up and the older ones down within maxSurge and maxUnavailable, or all
/// old ones first with Recreate; old ReplicaSets beyond revisionHistoryLimit removed; the
/// rollout's progress in the Deployment's status for `kubectl rollout status`.
struct DeploymentController: Controller {
    let store: ObjectStore
    let deployments: Informer
    let replicaSets: Informer
    let queue = WorkQueue()
    static let resource = ResourceCatalog.find(group: "apps", plural: "deployments")!
    static let setResource = ResourceCatalog.find(group: "apps", plural: "replicasets")!
    static let revisionAnnotation = "deployment.kubernetes.io/revision"
    static let hashLabel = "pod-template-hash"

    init(manager: ControllerManager) {
        store = manager.store
        deployments = manager.informer("deployments")
        replicaSets = manager.informer("replicasets")
        let queue = queue
        deployments.observe { event in queue.add(Informer.key(of: event.object)) }
        replicaSets.observe { event in
            guard let owner = PodFacts.controllerRef(event.object), owner["kind"] == "Deployment",
                  let name = owner["name"]?.stringValue else { return }
            queue.add(Informer.key(namespace: PodFacts.namespace(event.object), name: name))
        }
    }

    func allKeys() -> [String] { deployments.all.map(Informer.key(of:)) }

    func reconcile(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let deployment = deployments.get(namespace: parts[0], name: parts[1]),
              !PodFacts.isTerminating(deployment) else { return }
        let uid = PodFacts.uid(deployment)
        let owned = replicaSets.list(namespace: parts[0]).filter { PodFacts.controllerUID($0) == uid }
        let template = deployment[path: ["spec", "template"]] ?? [:]
        let replicas = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
        let paused = deployment[path: ["spec", "paused"]]?.boolValue ?? false
        let maxRevision = owned.map(Self.revision).max() ?? 0
        guard var current = owned.first(where: { Self.withoutHash($0[path: ["spec", "template"]]) == Self.withoutHash(template) }) else {
            if !paused { try await createReplicaSet(for: deployment, template: template, revision: maxRevision + 1, owned: owned) }
            return
        }
        let old = owned.filter { PodFacts.uid($0) != PodFacts.uid(current) }
        // A rollback brings an old template back: its set becomes the newest revision again.
        if Self.revision(current) < maxRevision || current[path: ["metadata", "annotations", Self.revisionAnnotation]] == nil {
            current = try await setRevision(of: current, to: maxRevision + 1)
        }
        try await setDeploymentRevision(deployment, Self.revision(current))
        if !paused {
            if deployment[path: ["spec", "strategy", "type"]] == "Recreate" {
                try await recreate(current: current, old: old, replicas: replicas)
            } else {
                try await rollingUpdate(deployment, current: current, old: old, replicas: replicas)
            }
            try await removeOldHistory(old, limit: Int(deployment[path: ["spec", "revisionHistoryLimit"]]?.intValue ?? 10))
        }
        try await writeStatus(deployment, current: current, all: [current] + old, replicas: replicas)
    }

    // MARK: Strategies

    private func recreate(current: JSONValue, old: [JSONValue], replicas: Int64) async throws {
        let running = old.filter { ($0[path: ["spec", "replicas"]]?.intValue ?? 0) > 0 }
        for set in running { try await scale(set, to: 0) }
        let remaining = old.reduce(0) { $0 + ($1[path: ["status", "replicas"]]?.intValue ?? 0) }
        if running.isEmpty && remaining == 0 { try await scale(current, to: replicas) }
    }

    private func rollingUpdate(_ deployment: JSONValue, current: JSONValue, old: [JSONValue], replicas: Int64) async throws {
        var surge = Self.resolve(deployment[path: ["spec", "strategy", "rollingUpdate", "maxSurge"]] ?? "25%",
                                 of: replicas, roundUp: true)
        var unavailable = Self.resolve(deployment[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]] ?? "25%",
                                       of: replicas, roundUp: false)
        if surge == 0 && unavailable == 0 { unavailable = 1 }
        surge = max(0, surge)
        let specReplicas = { (set: JSONValue) in set[path: ["spec", "replicas"]]?.intValue ?? 0 }
        let available = { (set: JSONValue) in set[path: ["status", "availableReplicas"]]?.intValue ?? 0 }
        var currentSize = specReplicas(current)
        var total = specReplicas(current) + old.reduce(0) { $0 + specReplicas($1) }

        // Up: the new set grows while all sets together stay within replicas + maxSurge.
        if currentSize > replicas {
            try await scale(current, to: replicas)
            total -= currentSize - replicas
            currentSize = replicas
        } else if currentSize < replicas {
            let room = replicas + surge - total
            if room > 0 {
                let target = min(replicas, currentSize + room)
                try await scale(current, to: target)
                total += target - currentSize
                currentSize = target
            }
        }

        // Down: old sets shrink while enough pods stay available (replicas - maxUnavailable);
        // their unavailable pods go first, since removing them costs no availability.
        let minAvailable = replicas - unavailable
        let newUnavailable = max(0, currentSize - available(current))
        var budget = total - minAvailable - newUnavailable
        let oldest = old.filter { specReplicas($0) > 0 }
            .sorted { ($0[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") < ($1[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") }
        var sizes = Dictionary(uniqueKeysWithValues: oldest.map { (PodFacts.uid($0), specReplicas($0)) })
        for set in oldest where budget > 0 {
            let unhealthy = max(0, specReplicas(set) - available(set))
            let cut = min(unhealthy, budget)
            if cut > 0 {
                sizes[PodFacts.uid(set)]! -= cut
                budget -= cut
            }
        }
        let availableTotal = available(current) + old.reduce(0) { $0 + min(available($1), sizes[PodFacts.uid($1)] ?? 0) }
        var canRemove = availableTotal - minAvailable
        for set in oldest where canRemove > 0 {
            let size = sizes[PodFacts.uid(set)]!
            let cut = min(size, canRemove)
            sizes[PodFacts.uid(set)]! -= cut
            canRemove -= cut
        }
        for set in oldest where sizes[PodFacts.uid(set)]! != specReplicas(set) {
            try await scale(set, to: sizes[PodFacts.uid(set)]!)
        }
    }

    /// maxSurge or maxUnavailable: a count, or a percentage of the replicas.
    static func resolve(_ value: JSONValue, of replicas: Int64, roundUp: Bool) -> Int64 {
        if let number = value.intValue { return number }
        guard let text = value.stringValue, text.hasSuffix("%"), let percent = Double(text.dropLast()) else { return 0 }
        let exact = Double(replicas) * percent / 100
        return Int64(roundUp ? exact.rounded(.up) : exact.rounded(.down))
    }

    // MARK: Replica sets

    private func createReplicaSet(for deployment: JSONValue, template: JSONValue, revision: Int64, owned: [JSONValue]) async throws {
        let hash = Self.hash(template)
        var podTemplate = template
        podTemplate[path: ["metadata", "labels", Self.hashLabel]] = .string(hash)
        var selector = deployment[path: ["spec", "selector"]] ?? [:]
        selector[path: ["matchLabels", Self.hashLabel]] = .string(hash)
        let replicas = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
        let strategy = deployment[path: ["spec", "strategy", "type"]]?.stringValue ?? "RollingUpdate"
        let existing = owned.reduce(0) { $0 + ($1[path: ["spec", "replicas"]]?.intValue ?? 0) }
        var initial: Int64
        if strategy == "Recreate" {
            initial = 0
        } else {
            let surge = Self.resolve(deployment[path: ["spec", "strategy", "rollingUpdate", "maxSurge"]] ?? "25%",
                                     of: replicas, roundUp: true)
            initial = max(0, min(replicas, replicas + surge - existing))
        }
        if owned.isEmpty { initial = replicas }
        var annotations = deployment[path: ["metadata", "annotations"]]?.objectValue ?? [:]
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = nil
        annotations[Self.revisionAnnotation] = .string(String(revision))
        annotations["deployment.kubernetes.io/desired-replicas"] = .string(String(replicas))
        let set: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": [
                "name": .string("\(PodFacts.name(deployment))-\(hash)"), "namespace": .string(PodFacts.namespace(deployment)),
                "labels": podTemplate[path: ["metadata", "labels"]] ?? [:], "annotations": .object(annotations),
                "ownerReferences": [PodFacts.ownerReference(to: deployment)],
            ],
            "spec": ["replicas": .int(initial), "selector": selector, "template": podTemplate,
                     "minReadySeconds": deployment[path: ["spec", "minReadySeconds"]] ?? 0],
        ]
        let prepared = try ObjectRules.prepareForCreate(set, resource: Self.setResource, namespace: PodFacts.namespace(deployment))
        do {
            _ = try await store.create(Self.setResource, prepared)
        } catch {
            // A set of that name but another owner or template (a hash collision): retried later.
            // (A `catch where` here crashes Swift 6.3's SIL ownership checks.)
            guard error.reason == "AlreadyExists" else { throw error }
        }
    }

    private func setRevision(of set: JSONValue, to revision: Int64) async throws -> JSONValue {
        try await store.update(Self.setResource, namespace: PodFacts.namespace(set), name: PodFacts.name(set)) { current throws(APIError) in
            var updated = current
            updated[path: ["metadata", "annotations", Self.revisionAnnotation]] = .string(String(revision))
            return updated
        }
    }

    private func setDeploymentRevision(_ deployment: JSONValue, _ revision: Int64) async throws {
        guard deployment[path: ["metadata", "annotations", Self.revisionAnnotation]] != .string(String(revision)) else { return }
        _ = try await store.update(Self.resource, namespace: PodFacts.namespace(deployment), name: PodFacts.name(deployment)) { current throws(APIError) in
            var updated = current
            updated[path: ["metadata", "annotations", Self.revisionAnnotation]] = .string(String(revision))
            return updated
        }
    }

    private func scale(_ set: JSONValue, to replicas: Int64) async throws {
        guard set[path: ["spec", "replicas"]]?.intValue != replicas else { return }
        _ = try await store.update(Self.setResource, namespace: PodFacts.namespace(set), name: PodFacts.name(set)) { current throws(APIError) in
            var updated = current
            updated[path: ["spec", "replicas"]] = .int(replicas)
            updated[path: ["metadata", "generation"]] = .int((current[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
            return updated
        }
    }

    private func removeOldHistory(_ old: [JSONValue], limit: Int) async throws {
        let idle = old.filter { ($0[path: ["spec", "replicas"]]?.intValue ?? 0) == 0 && ($0[path: ["status", "replicas"]]?.intValue ?? 0) == 0 }
            .sorted { Self.revision($0) < Self.revision($1) }
        for set in idle.dropLast(limit) {
            _ = try? await store.delete(Self.setResource, namespace: PodFacts.namespace(set), name: PodFacts.name(set),
                                        propagation: "Background", gracePeriod: nil, preconditions: ["uid": .string(PodFacts.uid(set))])
        }
    }

    // MARK: Status

    private func writeStatus(_ deployment: JSONValue, current: JSONValue, all: [JSONValue], replicas: Int64) async throws {
        let sum = { (field: String) in all.reduce(Int64(0)) { $0 + ($1[path: ["status", field]]?.intValue ?? 0) } }
        let updated = current[path: ["status", "replicas"]]?.intValue ?? 0
        let available = sum("availableReplicas")
        let total = sum("replicas")
        var status: JSONValue = [
            "observedGeneration": deployment[path: ["metadata", "generation"]] ?? 1,
            "replicas": .int(total), "updatedReplicas": .int(updated), "readyReplicas": .int(sum("readyReplicas")),
            "availableReplicas": .int(available), "unavailableReplicas": .int(max(0, replicas - available)),
        ]
        let maxUnavailable = Self.resolve(deployment[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]] ?? "25%",
                                          of: replicas, roundUp: false)
        let minimumAvailable = available >= replicas - maxUnavailable
        let complete = updated == replicas && total == replicas && available == replicas
        let previous = deployment[path: ["status", "conditions"]]?.arrayValue ?? []
        let now = ObjectRules.timestamp(Date())
        func condition(_ type: String, _ state: Bool, _ reason: String, _ message: String) -> JSONValue {
            let old = previous.first { $0["type"] == .string(type) }
            let stateText: JSONValue = state ? "True" : "False"
            let transition = old?["status"] == stateText ? (old?["lastTransitionTime"] ?? .string(now)) : .string(now)
            let sameReason = old?["reason"] == .string(reason) && old?["status"] == stateText
            return ["type": .string(type), "status": stateText, "reason": .string(reason), "message": .string(message),
                    "lastTransitionTime": transition, "lastUpdateTime": sameReason ? (old?["lastUpdateTime"] ?? .string(now)) : .string(now)]
        }
        let setName = PodFacts.name(current)
        status["conditions"] = [
            condition("Available", minimumAvailable, minimumAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                      minimumAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability."),
            condition("Progressing", true, complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                      complete ? "ReplicaSet \"\(setName)\" has successfully progressed." : "ReplicaSet \"\(setName)\" is progressing."),
        ]
        if status.objectValue?.filter({ $0.key != "conditions" }) == deployment["status"]?.objectValue?.filter({ $0.key != "conditions" })
            && (deployment[path: ["status", "conditions"]]?.arrayValue ?? []).map({ [$0["type"], $0["status"], $0["reason"]] })
                == (status["conditions"]?.arrayValue ?? []).map({ [$0["type"], $0["status"], $0["reason"]] }) {
            return
        }
        try await store.writeStatus(Self.resource, of: deployment, status)
    }

    // MARK: Templates

    static func revision(_ set: JSONValue) -> Int64 {
        Int64(set[path: ["metadata", "annotations", revisionAnnotation]]?.stringValue ?? "") ?? 0
    }

    static func withoutHash(_ template: JSONValue?) -> JSONValue {
        var template = template ?? [:]
        template[path: ["metadata", "labels", hashLabel]] = nil
        if template[path: ["metadata", "labels"]] == .object([:]) { template[path: ["metadata", "labels"]] = nil }
        return template
    }

    /// The template's hash, without the label that carries it.
    static func hash(_ template: JSONValue) -> String { PodFacts.templateHash(withoutHash(template)) }
}
