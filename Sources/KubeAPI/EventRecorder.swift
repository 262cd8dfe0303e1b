import Foundation

/// Writes core/v1 Events about objects, as the components' event recorders do, so that
/// `kubectl describe` and `kubectl get events` show what happened to them. Best effort: an event
/// that cannot be written is dropped, never retried in the caller's way.
public struct EventRecorder: Sendable {
    let store: ObjectStore
    let component: String
    static let resource = ResourceCatalog.find(group: "", plural: "events")!

    public init(store: ObjectStore, component: String) {
        self.store = store
        self.component = component
    }

    public func record(_ object: JSONValue, type: String = "Normal", reason: String, message: String, host: String? = nil) async {
        let now = Date()
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let name = (object[path: ["metadata", "name"]]?.stringValue ?? "object") + "."
            + String(UInt64(now.timeIntervalSince1970 * 1e9), radix: 16)
        var source: JSONValue = ["component": .string(component)]
        if let host { source["host"] = .string(host) }
        let event: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "involvedObject": [
                "kind": object["kind"] ?? "", "apiVersion": object["apiVersion"] ?? "", "namespace": .string(namespace),
                "name": object[path: ["metadata", "name"]] ?? "", "uid": object[path: ["metadata", "uid"]] ?? "",
                "resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? "",
            ],
            "reason": .string(reason), "message": .string(message), "type": .string(type), "source": source,
            "firstTimestamp": .string(ObjectRules.timestamp(now)), "lastTimestamp": .string(ObjectRules.timestamp(now)),
            "count": 1, "reportingComponent": .string(component), "reportingInstance": .string(host ?? ""),
        ]
        guard let prepared = try? ObjectRules.prepareForCreate(event, resource: Self.resource, namespace: namespace) else { return }
        _ = try? await store.create(Self.resource, prepared)
    }
}
