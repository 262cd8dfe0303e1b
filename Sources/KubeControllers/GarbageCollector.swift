import Foundation
import KubeAPI

/// Deletes objects whose owners are gone (`ownerReferences`), and carries out the two
/// deletion policies that wait on an owner's finalizer: foreground (its dependents are deleted
/// first, then it) and orphan (its dependents are released, then it is deleted).
struct GarbageCollector: Controller {
    let store: ObjectStore
    let queue = WorkQueue()
    /// The kinds that own others, and the kinds that are owned.
    let owners: [String: Informer]
    let dependents: [Informer]

    init(manager: ControllerManager) {
        store = manager.store
        owners = ["Deployment": manager.informer("deployments"), "ReplicaSet": manager.informer("replicasets"),
                  "DaemonSet": manager.informer("daemonsets"), "StatefulSet": manager.informer("statefulsets")]
        dependents = ["pods", "replicasets", "controllerrevisions", "persistentvolumeclaims"].map { manager.informer($0) }
        let queue = queue
        // Keys are "<plural>|<namespace>/<name>", of dependents and of owners being deleted.
        for informer in dependents {
            let plural = informer.resource.plural
            informer.observe { event in
                if event.type != "DELETED", !(event.object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).isEmpty {
                    queue.add(plural + "|" + Informer.key(of: event.object))
                }
            }
        }
        for informer in owners.values {
            let plural = informer.resource.plural
            let dependents = dependents
            informer.observe { event in
                if event.type == "DELETED" {
                    // Its dependents lost their owner.
                    let uid = PodFacts.uid(event.object)
                    for dependent in dependents {
                        for object in dependent.list(namespace: PodFacts.namespace(event.object))
                        where (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid }) {
                            queue.add(dependent.resource.plural + "|" + Informer.key(of: object))
                        }
                    }
                } else if PodFacts.isTerminating(event.object) {
                    queue.add(plural + "|" + Informer.key(of: event.object))
                }
            }
        }
    }

    func allKeys() -> [String] {
        dependents.flatMap { informer in
            informer.all.filter { !($0[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).isEmpty }
                .map { informer.resource.plural + "|" + Informer.key(of: $0) }
        } + owners.values.flatMap { informer in
            informer.all.filter(PodFacts.isTerminating).map { informer.resource.plural + "|" + Informer.key(of: $0) }
        }
    }

    func reconcile(_ key: String) async throws {
        let kindAndKey = key.split(separator: "|", maxSplits: 1).map(String.init)
        let parts = kindAndKey[1].split(separator: "/", maxSplits: 1).map(String.init)
        guard let resource = ResourceCatalog.find(kind: ResourceCatalog.all.first { $0.plural == kindAndKey[0] }?.kind ?? ""),
              let informer = (dependents + Array(owners.values)).first(where: { $0.resource.plural == kindAndKey[0] }),
              let object = informer.get(namespace: parts[0], name: parts[1]) else { return }
        let namespace = parts[0]
        if PodFacts.isTerminating(object), owners[resource.kind] != nil {
            try await finishDeletion(of: object, resource: resource)
        }
        // A dependent all of whose owners are gone goes too (in the background).
        let references = object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        guard !references.isEmpty else { return }
        let alive = references.contains { reference in
            guard let kind = reference["kind"]?.stringValue, let owners = owners[kind],
                  let name = reference["name"]?.stringValue else { return true }   // owners we do not track are kept
            return owners.get(namespace: namespace, name: name).map(PodFacts.uid) == reference["uid"]?.stringValue
        }
        if !alive {
            // The informer may lag behind a just-created owner: ask the store before deleting.
            for reference in references {
                guard let kind = reference["kind"]?.stringValue, let ownerResource = ResourceCatalog.find(kind: kind) else { continue }
                if let owner = try? await store.get(ownerResource, namespace: namespace, name: reference["name"]?.stringValue ?? ""),
                   PodFacts.uid(owner) == reference["uid"]?.stringValue {
                    return
                }
            }
            do {
                _ = try await store.delete(resource, namespace: namespace, name: parts[1], propagation: "Background",
                                           gracePeriod: nil, preconditions: ["uid": .string(PodFacts.uid(object))])
            } catch {
                guard error.reason == "NotFound" || error.reason == "Conflict" else { throw error }
            }
        }
    }

    /// An owner deleted in the foreground waits for its blocking dependents; one deleted with
    /// the orphan policy releases its dependents. Then the finalizer is removed and it goes.
    private func finishDeletion(of owner: JSONValue, resource: ResourceType) async throws {
        let finalizers = owner[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        let uid = PodFacts.uid(owner)
        let namespace = PodFacts.namespace(owner)
        var children: [(ResourceType, JSONValue)] = []
        for informer in dependents {
            for object in informer.list(namespace: namespace)
            where (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains(where: { $0["uid"]?.stringValue == uid }) {
                children.append((informer.resource, object))
            }
        }
        var finalizer: JSONValue
        if finalizers.contains("orphan") {
            finalizer = "orphan"
            for (childResource, child) in children {
                _ = try await store.update(childResource, namespace: namespace, name: PodFacts.name(child)) { current throws(APIError) in
                    var released = current
                    let kept = (current[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
                    released[path: ["metadata", "ownerReferences"]] = kept.isEmpty ? nil : .array(kept)
                    return released
                }
            }
        } else if finalizers.contains("foregroundDeletion") {
            finalizer = "foregroundDeletion"
            if !children.isEmpty {
                for (childResource, child) in children where !PodFacts.isTerminating(child) {
                    _ = try? await store.delete(childResource, namespace: namespace, name: PodFacts.name(child),
                                                propagation: "Foreground", gracePeriod: nil,
                                                preconditions: ["uid": .string(PodFacts.uid(child))])
                }
                queue.add(resource.plural + "|" + Informer.key(of: owner), after: .milliseconds(500))
                return
            }
        } else {
            return
        }
        _ = try await store.update(resource, namespace: namespace, name: PodFacts.name(owner)) { current throws(APIError) in
            var updated = current
            let rest = (current[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { $0 != finalizer }
            updated[path: ["metadata", "finalizers"]] = rest.isEmpty ? nil : .array(rest)
            return updated
        }
    }
}
