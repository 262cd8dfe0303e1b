import Foundation
import KubeAPI

/// The ControllerRevisions of StatefulSets and DaemonSets: one per template the workload has had,
/// numbered in order, which `kubectl rollout history` lists.
enum ControllerRevisions {
    static let resource = ResourceCatalog.find(group: "apps", plural: "controllerrevisions")!

    /// Records `template` as the owner's revision `name` unless it is recorded already; an older
    /// template that comes back gets the next number again, as Kubernetes renumbers it.
    static func record(_ template: JSONValue, named name: String, owner: JSONValue, store: ObjectStore,
                       revisions: Informer) async throws {
        let namespace = PodFacts.namespace(owner)
        let owned = revisions.list(namespace: namespace).filter { PodFacts.controllerUID($0) == PodFacts.uid(owner) }
        let newest = owned.map { $0["revision"]?.intValue ?? 0 }.max() ?? 0
        if let existing = owned.first(where: { PodFacts.name($0) == name }) {
            guard (existing["revision"]?.intValue ?? 0) < newest else { return }
            _ = try await store.update(resource, namespace: namespace, name: name) { current throws(APIError) in
                var renumbered = current
                renumbered["revision"] = .int(newest + 1)
                return renumbered
            }
            return
        }
        var data = template
        data["$patch"] = "replace"
        var revision: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "ownerReferences": [PodFacts.ownerReference(to: owner)]],
            "data": ["spec": ["template": data]],
            "revision": .int(newest + 1),
        ]
        if let labels = owner[path: ["spec", "selector", "matchLabels"]] { revision[path: ["metadata", "labels"]] = labels }
        do {
            let prepared = try ObjectRules.prepareForCreate(revision, resource: resource, namespace: namespace)
            _ = try await store.create(resource, prepared)
        } catch {
            guard error.reason == "AlreadyExists" else { throw error }
        }
    }
}
