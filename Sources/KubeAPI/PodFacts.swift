import Foundation

/// What the control plane's components read off objects the same way: owners, readiness,
/// resource quantities, and pods built from templates.
public enum PodFacts {
    /// Where a pod's CPU use is reported ("250m"), by the node agent or whatever measures it,
    /// and read by the HorizontalPodAutoscaler: there is no metrics-server.
    public static let cpuUsageAnnotation = "metrics.kube-swift.io/cpu-usage"

    /// The uid of the object's controlling owner (`ownerReferences` with `controller: true`).
    public static func controllerUID(_ object: JSONValue) -> String? {
        (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [])
            .first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
    }

    public static func controllerRef(_ object: JSONValue) -> JSONValue? {
        (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }
    }

    /// An owner reference to `owner` as its controller.
    public static func ownerReference(to owner: JSONValue) -> JSONValue {
        ["apiVersion": owner["apiVersion"] ?? "", "kind": owner["kind"] ?? "", "name": owner[path: ["metadata", "name"]] ?? "",
         "uid": owner[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": true]
    }

    public static func isTerminating(_ object: JSONValue) -> Bool {
        object[path: ["metadata", "deletionTimestamp"]] != nil
    }

    /// A pod that counts towards its controller's replicas: not being deleted, not finished.
    public static func isActive(_ pod: JSONValue) -> Bool {
        let phase = pod[path: ["status", "phase"]]?.stringValue
        return !isTerminating(pod) && phase != "Succeeded" && phase != "Failed"
    }

    public static func isReady(_ pod: JSONValue) -> Bool {
        (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
    }

    public static func name(_ object: JSONValue) -> String { object[path: ["metadata", "name"]]?.stringValue ?? "" }

    public static func namespace(_ object: JSONValue) -> String { object[path: ["metadata", "namespace"]]?.stringValue ?? "" }

    public static func uid(_ object: JSONValue) -> String { object[path: ["metadata", "uid"]]?.stringValue ?? "" }

    /// A new pod from a workload's template, owned by it.
    public static func pod(from template: JSONValue, owner: JSONValue, name: String? = nil,
                           generateName: String? = nil) -> JSONValue {
        var metadata: JSONValue = [
            "namespace": owner[path: ["metadata", "namespace"]] ?? "default",
            "ownerReferences": [ownerReference(to: owner)],
        ]
        if let name { metadata["name"] = .string(name) }
        if let generateName { metadata["generateName"] = .string(generateName) }
        if let labels = template[path: ["metadata", "labels"]] { metadata["labels"] = labels }
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"] ?? [:]]
    }

    /// A short, stable name for a pod template (FNV-1a over its JSON, in Kubernetes' alphabet of
    /// characters that spell no words): the workload controllers' revision hashes.
    public static func templateHash(_ template: JSONValue) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in template.serialized { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var text = ""
        var value = hash
        repeat {
            text.append(alphabet[Int(value % UInt32(alphabet.count))])
            value /= UInt32(alphabet.count)
        } while value > 0
        return text
    }

    /// The CPU (millicores) and memory (bytes) a pod's containers request.
    public static func requests(_ pod: JSONValue) -> (cpu: Int64, memory: Int64) {
        var cpu: Int64 = 0
        var memory: Int64 = 0
        for container in pod[path: ["spec", "containers"]]?.arrayValue ?? [] {
            let requests = container[path: ["resources", "requests"]]
            cpu += requests?["cpu"].flatMap { Quantity.milli($0) } ?? 0
            memory += requests?["memory"].flatMap { Quantity.value($0) } ?? 0
        }
        return (cpu, memory)
    }
}

/// Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3").
public enum Quantity {
    /// The quantity in thousandths (CPU in millicores).
    public static func milli(_ value: JSONValue) -> Int64? {
        parse(value).map { Int64(($0 * 1000).rounded(.up)) }
    }

    /// The quantity in whole units (memory in bytes), rounded up.
    public static func value(_ value: JSONValue) -> Int64? {
        parse(value).map { Int64($0.rounded(.up)) }
    }

    static func parse(_ value: JSONValue) -> Double? {
        if let number = value.intValue { return Double(number) }
        if case .double(let number) = value { return number }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let suffixes: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("Pi", 1_125_899_906_842_624),
            ("Ei", 1_152_921_504_606_846_976), ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6),
            ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
        ]
        for (suffix, factor) in suffixes where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)) else { return nil }
            return number * factor
        }
        return Double(text)
    }
}
