import Foundation

/// What the server owns in an object and fills in itself: the metadata it assigns on create and
/// keeps on update, the defaults of each kind, and the validation a write must pass. As
/// kube-apiserver's registry strategies, in the parts kubectl and the controllers rely on.
public enum ObjectRules {
    /// The object to store for a create request, or why it is refused.
    public static func prepareForCreate(_ body: JSONValue, resource: ResourceType, namespace: String?,
                                        now: Date = Date()) throws(APIError) -> JSONValue {
        guard case .object = body else { throw APIError.badRequest("the object is not a JSON object") }
        var object = body
        try checkKind(object, resource)
        object["kind"] = .string(resource.kind)
        object["apiVersion"] = .string(resource.groupVersion)
        var metadata = object["metadata"]?.objectValue ?? [:]
        if metadata["name"]?.stringValue?.isEmpty ?? true, let prefix = metadata["generateName"]?.stringValue, !prefix.isEmpty {
            metadata["name"] = .string(prefix + randomSuffix())
        }
        let name = metadata["name"]?.stringValue ?? ""
        guard !name.isEmpty else {
            throw APIError.invalid(resource, name, field: "metadata.name", "Required value: name or generateName is required")
        }
        try validateName(name, resource: resource)
        if resource.namespaced {
            let given = metadata["namespace"]?.stringValue ?? ""
            if !given.isEmpty, let namespace, given != namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            let effective = given.isEmpty ? (namespace ?? "default") : given
            metadata["namespace"] = .string(effective)
        } else {
            metadata["namespace"] = nil
        }
        metadata["uid"] = .string(UUID().uuidString.lowercased())
        metadata["creationTimestamp"] = .string(timestamp(now))
        metadata["resourceVersion"] = nil
        metadata["deletionTimestamp"] = nil
        metadata["deletionGracePeriodSeconds"] = nil
        metadata["selfLink"] = nil
        if resource.tracksGeneration { metadata["generation"] = 1 } else { metadata["generation"] = nil }
        object["metadata"] = .object(metadata)
        object = applyDefaults(object, resource: resource)
        try validate(object, resource: resource)
        return object
    }

    /// The object to store for an update (of the object, or of its `status` subresource) of
    /// `old`: the server's metadata kept, the part the other endpoint owns kept, the generation
    /// counted up when the spec changed.
    public static func prepareForUpdate(_ body: JSONValue, old: JSONValue, resource: ResourceType,
                                        subresource: String?) throws(APIError) -> JSONValue {
        guard case .object = body else { throw APIError.badRequest("the object is not a JSON object") }
        try checkKind(body, resource)
        let name = old[path: ["metadata", "name"]]?.stringValue ?? ""
        if let given = body[path: ["metadata", "name"]]?.stringValue, !given.isEmpty, given != name {
            throw APIError.badRequest("the name of the object (\(given)) does not match the name on the URL (\(name))")
        }
        var object: JSONValue
        if subresource == "status" {
            object = old
            object["status"] = body["status"]
        } else {
            object = body
            object["kind"] = .string(resource.kind)
            object["apiVersion"] = .string(resource.groupVersion)
            if resource.subresources.contains("status") { object["status"] = old["status"] }
            for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "generation"] {
                object[path: ["metadata", field]] = old[path: ["metadata", field]]
            }
            object[path: ["metadata", "selfLink"]] = nil
            object = applyDefaults(object, resource: resource)
            if resource.tracksGeneration, object["spec"] != old["spec"] {
                let generation = old[path: ["metadata", "generation"]]?.intValue ?? 0
                object[path: ["metadata", "generation"]] = .int(generation + 1)
            }
            if old[path: ["metadata", "deletionTimestamp"]] != nil {
                // While an object is being deleted its finalizers may only be removed.
                let before = Set(old[path: ["metadata", "finalizers"]]?.arrayValue ?? [])
                let after = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
                if after.contains(where: { !before.contains($0) }) {
                    throw APIError.invalid(resource, name, field: "metadata.finalizers",
                                           "Forbidden: no new finalizers can be added if the object is being deleted")
                }
            }
        }
        object[path: ["metadata", "resourceVersion"]] = old[path: ["metadata", "resourceVersion"]]
        try validate(object, resource: resource)
        return object
    }

    /// RFC 3339 in UTC to the second, as Kubernetes prints metav1.Time.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    public static func date(_ timestamp: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: timestamp)
    }

    /// Five characters from Kubernetes' alphabet for generated names (no vowels, no look-alikes).
    public static func randomSuffix(length: Int = 5) -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<length).map { _ in alphabet.randomElement()! })
    }

    private static func checkKind(_ object: JSONValue, _ resource: ResourceType) throws(APIError) {
        if let kind = object["kind"]?.stringValue, !kind.isEmpty, kind != resource.kind {
            throw APIError.badRequest("the kind of the object (\(kind)) does not match the resource (\(resource.qualifiedName))")
        }
        if let apiVersion = object["apiVersion"]?.stringValue, !apiVersion.isEmpty, apiVersion != resource.groupVersion {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(resource.groupVersion))")
        }
    }

    private static func validateName(_ name: String, resource: ResourceType) throws(APIError) {
        // Pods' and services' names end up in DNS labels; most others may be subdomains.
        let label = ["namespaces", "services"].contains(resource.plural)
        let bytes = Array(name.utf8)
        let alphanumeric = { (byte: UInt8) in (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        let valid = !bytes.isEmpty && bytes.count <= (label ? 63 : 253) && alphanumeric(bytes.first!) && alphanumeric(bytes.last!)
            && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || (!label && $0 == UInt8(ascii: ".")) }
        guard valid else {
            let problem = label
                ? "Invalid value: \"\(name)\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                : "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            throw APIError.invalid(resource, name, field: "metadata.name", problem)
        }
    }

    // MARK: Defaults

    static func applyDefaults(_ object: JSONValue, resource: ResourceType) -> JSONValue {
        var object = object
        switch resource.plural {
        case "namespaces":
            if object[path: ["spec", "finalizers"]] == nil { object[path: ["spec", "finalizers"]] = ["kubernetes"] }
            if object[path: ["status", "phase"]] == nil { object[path: ["status", "phase"]] = "Active" }
        case "pods":
            object["spec"] = podSpecDefaults(object["spec"] ?? [:])
            if object[path: ["status", "phase"]] == nil { object[path: ["status", "phase"]] = "Pending" }
        case "deployments":
            setIfMissing(&object, ["spec", "replicas"], 1)
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&object, ["spec", "progressDeadlineSeconds"], 600)
            setIfMissing(&object, ["spec", "strategy", "type"], "RollingUpdate")
            if object[path: ["spec", "strategy", "type"]] == "RollingUpdate" {
                setIfMissing(&object, ["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
                setIfMissing(&object, ["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
            }
            object[path: ["spec", "template", "spec"]] = podSpecDefaults(object[path: ["spec", "template", "spec"]] ?? [:])
        case "replicasets":
            setIfMissing(&object, ["spec", "replicas"], 1)
            object[path: ["spec", "template", "spec"]] = podSpecDefaults(object[path: ["spec", "template", "spec"]] ?? [:])
        case "statefulsets":
            setIfMissing(&object, ["spec", "replicas"], 1)
            setIfMissing(&object, ["spec", "podManagementPolicy"], "OrderedReady")
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&object, ["spec", "updateStrategy", "type"], "RollingUpdate")
            object[path: ["spec", "template", "spec"]] = podSpecDefaults(object[path: ["spec", "template", "spec"]] ?? [:])
        case "daemonsets":
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&object, ["spec", "updateStrategy", "type"], "RollingUpdate")
            if object[path: ["spec", "updateStrategy", "type"]] == "RollingUpdate" {
                setIfMissing(&object, ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
            }
            object[path: ["spec", "template", "spec"]] = podSpecDefaults(object[path: ["spec", "template", "spec"]] ?? [:])
        case "services":
            setIfMissing(&object, ["spec", "type"], "ClusterIP")
            setIfMissing(&object, ["spec", "sessionAffinity"], "None")
            if object[path: ["spec", "clusterIP"]] == nil {
                object[path: ["spec", "clusterIP"]] = .string(clusterIP(for: object))
            }
            if let ports = object[path: ["spec", "ports"]]?.arrayValue {
                object[path: ["spec", "ports"]] = .array(ports.map { port in
                    var port = port
                    if port["protocol"] == nil { port["protocol"] = "TCP" }
                    if port["targetPort"] == nil, let number = port["port"] { port["targetPort"] = number }
                    return port
                })
            }
        case "secrets":
            // stringData is write-only: merged into data (base64), as kube-apiserver does.
            if let strings = object["stringData"]?.objectValue {
                for (key, value) in strings {
                    object[path: ["data", key]] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
                }
                object["stringData"] = nil
            }
            setIfMissing(&object, ["type"], "Opaque")
        case "horizontalpodautoscalers":
            setIfMissing(&object, ["spec", "minReplicas"], 1)
        default:
            break
        }
        return object
    }

    private static func setIfMissing(_ object: inout JSONValue, _ path: [String], _ value: JSONValue) {
        if object[path: path] == nil || object[path: path] == .null { object[path: path] = value }
    }

    static func podSpecDefaults(_ spec: JSONValue) -> JSONValue {
        var spec = spec
        setIfMissing(&spec, ["restartPolicy"], "Always")
        setIfMissing(&spec, ["dnsPolicy"], "ClusterFirst")
        setIfMissing(&spec, ["schedulerName"], "default-scheduler")
        setIfMissing(&spec, ["terminationGracePeriodSeconds"], 30)
        setIfMissing(&spec, ["securityContext"], [:])
        for field in ["containers", "initContainers"] {
            guard let containers = spec[field]?.arrayValue else { continue }
            spec[field] = .array(containers.map { container in
                var container = container
                if container["imagePullPolicy"] == nil, let image = container["image"]?.stringValue {
                    let tagged = image.split(separator: "/").last.map { $0.contains(":") } ?? false
                    container["imagePullPolicy"] = .string(!tagged || image.hasSuffix(":latest") ? "Always" : "IfNotPresent")
                }
                setIfMissing(&container, ["terminationMessagePath"], "/dev/termination-log")
                setIfMissing(&container, ["terminationMessagePolicy"], "File")
                setIfMissing(&container, ["resources"], [:])
                return container
            })
        }
        return spec
    }

    /// A service's cluster IP in 10.96.0.0/16, from its namespace and name: stable across
    /// re-creation and without an allocator (two services may rarely share one; nothing here
    /// routes by it).
    static func clusterIP(for service: JSONValue) -> String {
        let key = (service[path: ["metadata", "namespace"]]?.stringValue ?? "") + "/"
            + (service[path: ["metadata", "name"]]?.stringValue ?? "")
        var hash: UInt32 = 2_166_136_261
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let host = 2 + hash % 65_000
        return "10.96.\(host / 256).\(host % 256)"
    }

    // MARK: Validation

    static func validate(_ object: JSONValue, resource: ResourceType) throws(APIError) {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        switch resource.plural {
        case "pods":
            try validatePodSpec(object["spec"], field: "spec", resource: resource, name: name)
        case "deployments", "replicasets", "statefulsets", "daemonsets":
            if let replicas = object[path: ["spec", "replicas"]], (replicas.intValue ?? -1) < 0 {
                throw APIError.invalid(resource, name, field: "spec.replicas",
                                       "Invalid value: \(replicas.text): must be greater than or equal to 0")
            }
            guard let selector = object[path: ["spec", "selector"]], selector != .object([:]), selector != .null else {
                throw APIError.invalid(resource, name, field: "spec.selector", "Required value")
            }
            let labels = (object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            let parsed: LabelSelector
            do {
                parsed = try LabelSelector(json: selector)
            } catch {
                throw APIError.invalid(resource, name, field: "spec.selector", "Invalid value: \(error)")
            }
            if !parsed.matches(labels) {
                throw APIError.invalid(resource, name, field: "spec.template.metadata.labels",
                                       "Invalid value: \(JSONValue.object(labels.mapValues { .string($0) }).text): `selector` does not match template `labels`")
            }
            try validatePodSpec(object[path: ["spec", "template", "spec"]], field: "spec.template.spec", resource: resource, name: name)
        default:
            break
        }
    }

    private static func validatePodSpec(_ spec: JSONValue?, field: String, resource: ResourceType, name: String) throws(APIError) {
        let containers = spec?["containers"]?.arrayValue ?? []
        guard !containers.isEmpty else {
            throw APIError.invalid(resource, name, field: "\(field).containers", "Required value")
        }
        var names = Set<String>()
        for (index, container) in containers.enumerated() {
            guard let containerName = container["name"]?.stringValue, !containerName.isEmpty else {
                throw APIError.invalid(resource, name, field: "\(field).containers[\(index)].name", "Required value")
            }
            guard names.insert(containerName).inserted else {
                throw APIError.invalid(resource, name, field: "\(field).containers[\(index)].name",
                                       "Duplicate value: \"\(containerName)\"")
            }
            guard let image = container["image"]?.stringValue, !image.isEmpty else {
                throw APIError.invalid(resource, name, field: "\(field).containers[\(index)].image", "Required value")
            }
        }
    }
}
