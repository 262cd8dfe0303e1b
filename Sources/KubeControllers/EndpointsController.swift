import Foundation
import KubeAPI

/// Keeps each Service's Endpoints (same name) listing the pods its selector picks: ready pods'
/// IPs as addresses, the others as notReadyAddresses, the service's target ports resolved
/// against the pods' named container ports; removed with the service.
struct EndpointsController: Controller {
    let store: ObjectStore
    let services: Informer
    let pods: Informer
    let endpoints: Informer
    let queue = WorkQueue()
    static let resource = ResourceCatalog.find(group: "", plural: "endpoints")!

    init(manager: ControllerManager) {
        store = manager.store
        services = manager.informer("services")
        pods = manager.informer("pods")
        endpoints = manager.informer("endpoints")
        let queue = queue
        services.observe { event in queue.add(Informer.key(of: event.object)) }
        let services = services
        // A pod's change may concern any service of its namespace (its labels may have changed).
        pods.observe { event in
            for service in services.list(namespace: PodFacts.namespace(event.object)) { queue.add(Informer.key(of: service)) }
        }
    }

    func allKeys() -> [String] { services.all.map(Informer.key(of:)) + endpoints.all.map(Informer.key(of:)) }

    func reconcile(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        let existing = endpoints.get(namespace: parts[0], name: parts[1])
        guard let service = services.get(namespace: parts[0], name: parts[1]), !PodFacts.isTerminating(service) else {
            if let existing {
                _ = try? await store.delete(Self.resource, namespace: parts[0], name: parts[1], propagation: nil,
                                            gracePeriod: nil, preconditions: ["uid": .string(PodFacts.uid(existing))])
            }
            return
        }
        let selector = (service[path: ["spec", "selector"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        // A service without a selector has endpoints its owner writes by hand.
        guard !selector.isEmpty else { return }
        let chosen = pods.list(namespace: parts[0]).filter { pod in
            let labels = ObjectStore.labels(of: pod)
            return PodFacts.isActive(pod) && selector.allSatisfy { labels[$0.key] == $0.value }
                && !(pod[path: ["status", "podIP"]]?.stringValue ?? "").isEmpty
        }.sorted { PodFacts.name($0) < PodFacts.name($1) }
        var subsets: [JSONValue] = []
        if !chosen.isEmpty {
            func address(_ pod: JSONValue) -> JSONValue {
                ["ip": pod[path: ["status", "podIP"]] ?? "", "nodeName": pod[path: ["spec", "nodeName"]] ?? "",
                 "targetRef": ["kind": "Pod", "namespace": .string(parts[0]), "name": .string(PodFacts.name(pod)),
                               "uid": .string(PodFacts.uid(pod))]]
            }
            let ports: [JSONValue] = (service[path: ["spec", "ports"]]?.arrayValue ?? []).map { port in
                var resolved: JSONValue = ["port": Self.targetPort(port, in: chosen[0]),
                                           "protocol": port["protocol"] ?? "TCP"]
                if let name = port["name"] { resolved["name"] = name }
                return resolved
            }
            var subset: JSONValue = ["ports": .array(ports)]
            let ready = chosen.filter(PodFacts.isReady).map(address)
            let notReady = chosen.filter { !PodFacts.isReady($0) }.map(address)
            if !ready.isEmpty { subset["addresses"] = .array(ready) }
            if !notReady.isEmpty { subset["notReadyAddresses"] = .array(notReady) }
            subsets = [subset]
        }
        if let existing {
            guard existing["subsets"] ?? [] != .array(subsets) else { return }
            _ = try await store.update(Self.resource, namespace: parts[0], name: parts[1]) { current throws(APIError) in
                var updated = current
                updated["subsets"] = subsets.isEmpty ? nil : .array(subsets)
                return updated
            }
        } else {
            var object: JSONValue = ["apiVersion": "v1", "kind": "Endpoints",
                                     "metadata": ["name": .string(parts[1]), "namespace": .string(parts[0]),
                                                  "labels": service[path: ["metadata", "labels"]] ?? [:]]]
            if !subsets.isEmpty { object["subsets"] = .array(subsets) }
            let prepared = try ObjectRules.prepareForCreate(object, resource: Self.resource, namespace: parts[0])
            _ = try await store.create(Self.resource, prepared)
        }
    }

    /// A service port's target on a pod: a number, or the named port of one of its containers.
    static func targetPort(_ port: JSONValue, in pod: JSONValue) -> JSONValue {
        let target = port["targetPort"] ?? port["port"] ?? 0
        guard let name = target.stringValue else { return target }
        for container in pod[path: ["spec", "containers"]]?.arrayValue ?? [] {
            if let match = (container["ports"]?.arrayValue ?? []).first(where: { $0["name"]?.stringValue == name }) {
                return match["containerPort"] ?? target
            }
        }
        return target
    }
}
