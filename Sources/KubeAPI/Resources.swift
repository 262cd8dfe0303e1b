/// One kind of object the apiserver serves: where it lives in the API and in etcd, and what may
/// be done to it. The catalog is what discovery answers and what the router and storage follow.
public struct ResourceType: Sendable, Hashable {
    /// "" for the core group.
    public var group: String
    public var version: String
    /// The plural, lower-case name in URLs, such as "deployments".
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    /// Subresources beside the object itself, such as "status", "scale", "binding", "log".
    public var subresources: [String]
    /// Where the objects are stored, as kube-apiserver stores them ("/registry/minions" for nodes).
    public var storagePrefix: String
    /// Whether `metadata.generation` counts changes of the spec (the workload controllers'
    /// observedGeneration follows it).
    public var tracksGeneration: Bool
    /// Whether `kubectl get all` shows it.
    public var inCategoryAll: Bool

    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// "deployments.apps", or "pods": the name in Status messages.
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The etcd key of an object; `namespace` is ignored for cluster-scoped resources.
    public func key(namespace: String?, name: String) -> String {
        namespaced ? "\(storagePrefix)/\(namespace ?? "")/\(name)" : "\(storagePrefix)/\(name)"
    }

    /// The prefix of every object in a namespace, or of all of them.
    public func prefix(namespace: String?) -> String {
        if namespaced, let namespace { return "\(storagePrefix)/\(namespace)/" }
        return "\(storagePrefix)/"
    }

    /// The verbs discovery lists for the resource itself.
    public var verbs: [String] {
        ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }

    init(_ group: String, _ plural: String, _ kind: String, namespaced: Bool = true, short: [String] = [],
         subresources: [String] = [], storage: String? = nil, generation: Bool = false, all: Bool = false) {
        self.group = group
        self.version = "v1"
        self.plural = plural
        self.singular = kind.lowercased()
        self.kind = kind
        self.namespaced = namespaced
        self.shortNames = short
        self.subresources = subresources
        self.storagePrefix = "/registry/" + (storage ?? plural)
        self.tracksGeneration = generation
        self.inCategoryAll = all
    }
}

/// Every resource the apiserver serves.
public enum ResourceCatalog {
    public static let all: [ResourceType] = [
        ResourceType("", "namespaces", "Namespace", namespaced: false, short: ["ns"], subresources: ["status"]),
        ResourceType("", "nodes", "Node", namespaced: false, short: ["no"], subresources: ["status"], storage: "minions"),
        ResourceType("", "pods", "Pod", short: ["po"], subresources: ["binding", "log", "status"], all: true),
        ResourceType("", "services", "Service", short: ["svc"], subresources: ["status"], storage: "services/specs", all: true),
        ResourceType("", "endpoints", "Endpoints", short: ["ep"], storage: "services/endpoints"),
        ResourceType("", "configmaps", "ConfigMap", short: ["cm"]),
        ResourceType("", "secrets", "Secret"),
        ResourceType("", "events", "Event", short: ["ev"]),
        ResourceType("", "persistentvolumeclaims", "PersistentVolumeClaim", short: ["pvc"], subresources: ["status"]),
        ResourceType("apps", "deployments", "Deployment", short: ["deploy"], subresources: ["scale", "status"],
                     generation: true, all: true),
        ResourceType("apps", "replicasets", "ReplicaSet", short: ["rs"], subresources: ["scale", "status"],
                     generation: true, all: true),
        ResourceType("apps", "daemonsets", "DaemonSet", short: ["ds"], subresources: ["status"], generation: true, all: true),
        ResourceType("apps", "statefulsets", "StatefulSet", short: ["sts"], subresources: ["scale", "status"],
                     generation: true, all: true),
        ResourceType("apps", "controllerrevisions", "ControllerRevision"),
        ResourceType("coordination.k8s.io", "leases", "Lease"),
        ResourceType("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short: ["hpa"],
                     subresources: ["status"], generation: true, all: true),
    ]

    /// The API groups other than core, in discovery's order.
    public static let groups = ["apps", "autoscaling", "coordination.k8s.io"]

    public static func find(group: String, plural: String) -> ResourceType? {
        all.first { $0.group == group && $0.plural == plural }
    }

    public static func find(kind: String) -> ResourceType? {
        all.first { $0.kind == kind }
    }
}
