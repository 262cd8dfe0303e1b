import Foundation
import KubeAPI

/// Empties a namespace being deleted: every object in it is deleted, and once none is left the
/// namespace itself goes (kube-controller-manager's namespace controller, finalizer "kubernetes").
struct NamespaceController: Controller {
    let store: ObjectStore
    let namespaces: Informer
    let queue = WorkQueue()
    static let resource = ResourceCatalog.find(group: "", plural: "namespaces")!

    init(manager: ControllerManager) {
        store = manager.store
        namespaces = manager.informer("namespaces")
        let queue = queue
        namespaces.observe { event in
            if PodFacts.isTerminating(event.object) { queue.add(PodFacts.name(event.object)) }
        }
    }

    func allKeys() -> [String] { namespaces.all.filter(PodFacts.isTerminating).map(PodFacts.name) }

    func reconcile(_ name: String) async throws {
        guard let namespace = namespaces.get(namespace: nil, name: name), PodFacts.isTerminating(namespace) else { return }
        var remaining = 0
        for resource in ResourceCatalog.all where resource.namespaced {
            let page = try await store.list(resource, namespace: name)
            remaining += page.items.count
            for object in page.items where !PodFacts.isTerminating(object) {
                _ = try? await store.delete(resource, namespace: name, name: PodFacts.name(object), propagation: "Background",
                                            gracePeriod: nil, preconditions: nil)
            }
        }
        if remaining > 0 {
            queue.add(name, after: .seconds(1))
            return
        }
        _ = try await store.remove(Self.resource, namespace, expectedRevision: 0)
    }
}
