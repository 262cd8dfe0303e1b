/// Whether a pod may run on a node by the node's labels, name and taints: the filters the
/// scheduler applies and the DaemonSet controller uses to decide which nodes want a pod.
public enum NodeFit {
    /// Why the pod's nodeSelector, required node affinity or tolerations (of taints with one of
    /// `effects`) exclude the node, worded as kube-scheduler's filters; nil when they do not.
    public static func excluded(_ pod: JSONValue, by node: JSONValue, effects: Set<String> = ["NoSchedule", "NoExecute"]) -> String? {
        let labels = ObjectStore.labels(of: node)
        let selector = (pod[path: ["spec", "nodeSelector"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        if selector.contains(where: { labels[$0.key] != $0.value }) { return "node(s) didn't match node selector" }
        if let terms = pod[path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?.arrayValue,
           !terms.isEmpty, !terms.contains(where: { matches($0, labels: labels, name: PodFacts.name(node)) }) {
            return "node(s) didn't match node selector"
        }
        if let taint = untolerated(pod, node, effects: effects) {
            return "node(s) had taint {\(taint["key"]?.stringValue ?? ""): \(taint["value"]?.stringValue ?? "")}, that the pod didn't tolerate"
        }
        return nil
    }

    /// The first of the node's taints with one of `effects` that the pod does not tolerate.
    public static func untolerated(_ pod: JSONValue, _ node: JSONValue, effects: Set<String>) -> JSONValue? {
        let tolerations = pod[path: ["spec", "tolerations"]]?.arrayValue ?? []
        return (node[path: ["spec", "taints"]]?.arrayValue ?? []).first { taint in
            effects.contains(taint["effect"]?.stringValue ?? "") && !tolerations.contains { tolerates($0, taint) }
        }
    }

    /// A nodeSelectorTerm: all its matchExpressions hold for the node's labels, and all its
    /// matchFields for its name (the only field Kubernetes allows there).
    public static func matches(_ term: JSONValue, labels: [String: String], name: String) -> Bool {
        let expressions = term["matchExpressions"]?.arrayValue ?? []
        let fields = term["matchFields"]?.arrayValue ?? []
        if expressions.isEmpty && fields.isEmpty { return false }
        return expressions.allSatisfy { holds($0, value: labels[$0["key"]?.stringValue ?? ""]) }
            && fields.allSatisfy { $0["key"] == "metadata.name" && holds($0, value: name) }
    }

    private static func holds(_ expression: JSONValue, value: String?) -> Bool {
        let values = (expression["values"]?.arrayValue ?? []).compactMap(\.stringValue)
        func compare(_ order: (Int64, Int64) -> Bool) -> Bool {
            guard let number = value.flatMap({ Int64($0) }), let bound = values.first.flatMap({ Int64($0) }) else { return false }
            return order(number, bound)
        }
        switch expression["operator"]?.stringValue {
        case "In": return value.map(values.contains) ?? false
        case "NotIn": return !(value.map(values.contains) ?? false)
        case "Exists": return value != nil
        case "DoesNotExist": return value == nil
        case "Gt": return compare(>)
        case "Lt": return compare(<)
        default: return false
        }
    }

    public static func tolerates(_ toleration: JSONValue, _ taint: JSONValue) -> Bool {
        if let effect = toleration["effect"]?.stringValue, !effect.isEmpty, effect != taint["effect"]?.stringValue { return false }
        let key = toleration["key"]?.stringValue ?? ""
        if toleration["operator"] == "Exists" { return key.isEmpty || key == taint["key"]?.stringValue }
        return key == taint["key"]?.stringValue && (toleration["value"]?.stringValue ?? "") == (taint["value"]?.stringValue ?? "")
    }
}
