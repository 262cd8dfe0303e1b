import Foundation

extension ObjectStore {
    /// Deletes this very pod (matched by uid), with `gracePeriod` (nil: the pod's own); false
    /// when it was gone already or replaced by another pod of the same name.
    @discardableResult
    public func deletePod(_ pod: JSONValue, gracePeriod: Int64? = nil) async throws(APIError) -> Bool {
        let pods = ResourceCatalog.find(group: "", plural: "pods")!
        do {
            _ = try await delete(pods, namespace: PodFacts.namespace(pod), name: PodFacts.name(pod), propagation: nil,
                                 gracePeriod: gracePeriod, preconditions: ["uid": .string(PodFacts.uid(pod))])
            return true
        } catch {
            guard error.reason == "NotFound" || error.reason == "Conflict" else { throw error }
            return false
        }
    }

    /// Deletes as kube-apiserver does: an object with finalizers (its own, or those the
    /// propagation policy adds: foreground deletion waits for dependents, orphan releases them)
    /// or a pod running on a node (which stops it first, within the grace period) only gets a
    /// deletionTimestamp; anything else is removed at once. Namespaces are emptied by the
    /// namespace controller before they go.
    public func delete(_ resource: ResourceType, namespace: String?, name: String, propagation: String?,
                      gracePeriod: Int64?, preconditions: JSONValue?) async throws(APIError) -> JSONValue {
        for _ in 0..<16 {
            let current = try await get(resource, namespace: namespace, name: name)
            let revision = ObjectStore.revision(of: current)
            if let uid = preconditions?["uid"]?.stringValue, uid != current[path: ["metadata", "uid"]]?.stringValue {
                throw APIError(code: 409, reason: "Conflict",
                               message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(current[path: ["metadata", "uid"]]?.stringValue ?? "")")
            }
            if let version = preconditions?["resourceVersion"]?.stringValue, version != String(revision) {
                throw APIError(code: 409, reason: "Conflict",
                               message: "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(revision)")
            }
            var object = current
            var finalizers = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
            switch propagation {
            case "Foreground": if !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
            case "Orphan": if !finalizers.contains("orphan") { finalizers.append("orphan") }
            default: break
            }
            let now = Date()
            let boundPod = resource.plural == "pods" && !(object[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty
                && object[path: ["status", "phase"]] != "Succeeded" && object[path: ["status", "phase"]] != "Failed"
            let grace = gracePeriod ?? object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30
            let graceful = boundPod && grace > 0
            let namespaceContent = resource.plural == "namespaces"
                && !(object[path: ["spec", "finalizers"]]?.arrayValue ?? []).isEmpty
            if finalizers.isEmpty && !graceful && !namespaceContent {
                do {
                    return try await remove(resource, current, expectedRevision: revision)
                } catch where error.reason == "Conflict" {
                    continue
                }
            }
            let running = object[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue
            // A second delete may shorten the grace period (a node's agent confirming with 0), never lengthen it.
            if object[path: ["metadata", "deletionTimestamp"]] == nil || (running ?? 0) > (graceful ? grace : 0) {
                let deadline = graceful ? now.addingTimeInterval(TimeInterval(grace)) : now
                object[path: ["metadata", "deletionTimestamp"]] = .string(ObjectRules.timestamp(deadline))
                object[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(graceful ? grace : 0)
            }
            if !finalizers.isEmpty { object[path: ["metadata", "finalizers"]] = .array(finalizers) }
            if resource.plural == "namespaces" { object[path: ["status", "phase"]] = "Terminating" }
            do {
                return try await replace(resource, object, expectedRevision: revision, previous: current)
            } catch where error.reason == "Conflict" {
                continue
            }
        }
        throw APIError.conflict(resource, name)
    }

    /// Assigns a pending pod to a node (the `binding` subresource): refused when the pod is
    /// being deleted or already has a node.
    public func bind(namespace: String, pod name: String, to node: String) async throws(APIError) {
        let pods = ResourceCatalog.find(group: "", plural: "pods")!
        let now = ObjectRules.timestamp(Date())
        _ = try await update(pods, namespace: namespace, name: name) { current throws(APIError) in
            if current[path: ["metadata", "deletionTimestamp"]] != nil {
                throw APIError.conflict(pods, name)
            }
            if let assigned = current[path: ["spec", "nodeName"]]?.stringValue, !assigned.isEmpty {
                throw APIError(code: 409, reason: "Conflict", message: "pod \(name) is already assigned to node \"\(assigned)\"")
            }
            var pod = current
            pod[path: ["spec", "nodeName"]] = .string(node)
            var conditions = (pod[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"] != "PodScheduled" }
            conditions.append(["type": "PodScheduled", "status": "True", "lastProbeTime": .null,
                               "lastTransitionTime": .string(now)])
            pod[path: ["status", "conditions"]] = .array(conditions)
            return pod
        }
    }
}
