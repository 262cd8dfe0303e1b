import Foundation
import KubeAPI
import Synchronization

/// kube-controller-manager: shared informers, and the controllers that reconcile the store
/// towards what its objects ask for, each with its own work queue.
public final class ControllerManager: Sendable {
    let store: ObjectStore
    let informers: [String: Informer]
    let nodeLifecycle: NodeLifecycleOptions
    let autoscaling: AutoscalerOptions

    public init(store: ObjectStore, nodeLifecycle: NodeLifecycleOptions = NodeLifecycleOptions(),
                autoscaling: AutoscalerOptions = AutoscalerOptions()) {
        self.store = store
        self.nodeLifecycle = nodeLifecycle
        self.autoscaling = autoscaling
        var informers: [String: Informer] = [:]
        for resource in ResourceCatalog.all where resource.plural != "events" {
            informers[resource.plural] = Informer(store: store, resource: resource)
        }
        self.informers = informers
    }

    func informer(_ plural: String) -> Informer { informers[plural]! }

    /// Runs every informer and controller until cancelled.
    public func run() async {
        let controllers: [any Controller] = [
            ReplicaSetController(manager: self),
            DeploymentController(manager: self),
            GarbageCollector(manager: self),
            NamespaceController(manager: self),
            EndpointsController(manager: self),
            DaemonSetController(manager: self),
            StatefulSetController(manager: self),
        ]
        let nodeLifecycle = NodeLifecycleController(manager: self, options: nodeLifecycle)
        let autoscaler = HorizontalPodAutoscaler(manager: self, options: autoscaling)
        await withTaskGroup(of: Void.self) { group in
            for informer in informers.values {
                group.addTask { await informer.run() }
            }
            group.addTask { await nodeLifecycle.run() }
            group.addTask { await autoscaler.run() }
            for controller in controllers {
                group.addTask { await Self.work(controller, informers: Array(self.informers.values)) }
                group.addTask { await Self.resync(controller) }
            }
        }
    }

    /// Reconciles one key at a time once the informers have listed; a failure comes back later.
    private static func work(_ controller: any Controller, informers: [Informer]) async {
        while !informers.allSatisfy(\.hasSynced) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await controller.queue.process { key in try await controller.reconcile(key) }
    }

    /// Every object looked at again now and then, as informers' resync does: a missed change
    /// (a failed write, a lost event) is mended within that time.
    private static func resync(_ controller: any Controller) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(10))
            for key in controller.allKeys() { controller.queue.add(key) }
        }
    }
}

/// A controller: which keys it reconciles, and how.
protocol Controller: Sendable {
    var queue: WorkQueue { get }
    func reconcile(_ key: String) async throws
    /// Every key it owns, for the periodic resync.
    func allKeys() -> [String]
}

/// Creations and deletions a controller has asked for but not yet seen in its informer: until
/// they arrive (or a while has passed) it must not count pods again, or it would create twice.
final class Expectations: Sendable {
    private let pending = Mutex<[String: (adds: Int, deletes: Set<String>, since: ContinuousClock.Instant)]>([:])

    func expect(_ key: String, adds: Int = 0, deletes: [String] = []) {
        pending.withLock { $0[key] = (adds, Set(deletes), .now) }
    }

    func observedAdd(_ key: String) {
        pending.withLock { if let entry = $0[key] { $0[key]!.adds = max(0, entry.adds - 1) } }
    }

    func observedDelete(_ key: String, uid: String) {
        pending.withLock { _ = $0[key]?.deletes.remove(uid) }
    }

    /// For a change of a pod controlled by a `kind` (a ReplicaSet, a DaemonSet): its controller's
    /// key, after counting the pod's arrival or departure; nil for other pods.
    func observe(_ event: ObjectStore.WatchEvent, ownedBy kind: String) -> (key: String, owner: JSONValue)? {
        guard let owner = PodFacts.controllerRef(event.object), owner["kind"]?.stringValue == kind,
              let name = owner["name"]?.stringValue else { return nil }
        let key = Informer.key(namespace: PodFacts.namespace(event.object), name: name)
        switch event.type {
        case "ADDED": observedAdd(key)
        case "DELETED": observedDelete(key, uid: PodFacts.uid(event.object))
        default: break
        }
        return (key, owner)
    }

    /// Whether the informer has caught up with what was asked (or 30 s passed).
    func satisfied(_ key: String) -> Bool {
        pending.withLock { pending in
            guard let entry = pending[key] else { return true }
            if (entry.adds == 0 && entry.deletes.isEmpty) || entry.since.duration(to: .now) > .seconds(30) {
                pending[key] = nil
                return true
            }
            return false
        }
    }
}

extension ObjectStore {
    /// Writes `status` into the object's status subresource unless it is already so.
    func writeStatus(_ resource: ResourceType, of object: JSONValue, _ status: JSONValue) async throws {
        guard object["status"] != status else { return }
        _ = try await update(resource, namespace: PodFacts.namespace(object), name: PodFacts.name(object)) { current throws(APIError) in
            guard PodFacts.uid(current) == PodFacts.uid(object) else { throw APIError.notFound(resource, PodFacts.name(object)) }
            var updated = current
            updated["status"] = status
            return updated
        }
    }
}
