import Foundation
import KubeAPI
import KubeHTTP
import NIOHTTP1

/// kube-apiserver's REST API over an `ObjectStore`: discovery, and for every resource in the
/// catalog get, list (paged, with selectors, as a Table for kubectl), watch, create, update,
/// patch and delete, with the status, scale and binding subresources.
public struct APIServer: Sendable {
    let store: ObjectStore
    /// How long a watch lasts when the client names no timeout (kube-apiserver's default is 30 to 60 min).
    var defaultWatchTimeout: Duration = .seconds(1800)

    public init(store: ObjectStore) {
        self.store = store
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        do {
            return try await route(request)
        } catch {
            return Self.json(error.status, code: error.code)
        }
    }

    private func route(_ request: HTTPRequest) async throws(APIError) -> HTTPResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        switch segments.first {
        case "version" where segments.count == 1:
            return Self.json(Discovery.version)
        case "healthz", "livez", "readyz":
            _ = try await store.list(ResourceCatalog.find(group: "", plural: "namespaces")!, namespace: nil, limit: 1)
            return .full(status: .ok, contentType: "text/plain; charset=utf-8", body: Array("ok".utf8))
        case "api":
            if segments.count == 1 { return Self.json(Discovery.coreVersions) }
            guard segments[1] == "v1" else { throw APIError.pathNotFound() }
            if segments.count == 2 { return Self.json(Discovery.resourceList(group: "")) }
            return try await resource(request, group: "", path: Array(segments.dropFirst(2)))
        case "apis":
            if segments.count == 1 { return Self.json(Discovery.groupList) }
            let group = segments[1]
            guard ResourceCatalog.groups.contains(group) else { throw APIError.pathNotFound() }
            if segments.count == 2 { return Self.json(Discovery.group(group)) }
            guard segments[2] == "v1" else { throw APIError.pathNotFound() }
            if segments.count == 3 { return Self.json(Discovery.resourceList(group: group)) }
            return try await resource(request, group: group, path: Array(segments.dropFirst(3)))
        default:
            throw APIError.pathNotFound()
        }
    }

    // MARK: Resources

    /// What a resource path names: `[watch/][namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
    struct Target {
        var resource: ResourceType
        var namespace: String?
        var name: String?
        var subresource: String?
        var watch: Bool
    }

    static func target(group: String, path: [String]) throws(APIError) -> Target {
        var path = path
        var watch = false
        if path.first == "watch" {
            watch = true
            path.removeFirst()
        }
        var namespace: String?
        if path.count >= 3, path[0] == "namespaces", ResourceCatalog.find(group: group, plural: path[2]) != nil {
            namespace = path[1]
            path.removeFirst(2)
        }
        guard let plural = path.first, let resource = ResourceCatalog.find(group: group, plural: plural), path.count <= 3 else {
            throw APIError.pathNotFound()
        }
        let subresource = path.count > 2 ? path[2] : nil
        if let subresource, !resource.subresources.contains(subresource) { throw APIError.pathNotFound() }
        if namespace != nil && !resource.namespaced { throw APIError.pathNotFound() }
        return Target(resource: resource, namespace: namespace, name: path.count > 1 ? path[1] : nil,
                      subresource: subresource, watch: watch)
    }

    private func resource(_ request: HTTPRequest, group: String, path: [String]) async throws(APIError) -> HTTPResponse {
        let target = try Self.target(group: group, path: path)
        let watch = target.watch || Self.flag(request.query["watch"])
        switch (request.method, target.name, target.subresource) {
        case (.GET, nil, _) where watch:
            return try watchResponse(request, target)
        case (.GET, nil, _):
            return try await list(request, target)
        case (.GET, let name?, nil), (.GET, let name?, "status"):
            let object = try await store.get(target.resource, namespace: target.namespace, name: name)
            return respond(request, object, resource: target.resource)
        case (.GET, let name?, "scale"):
            let object = try await store.get(target.resource, namespace: target.namespace, name: name)
            return Self.json(Self.scale(of: object, resource: target.resource))
        case (.GET, let name?, "log"):
            return try await PodLogs.proxy(request, store: store, namespace: target.namespace ?? "default", pod: name)
        case (.POST, nil, nil):
            return try await create(request, target)
        case (.POST, let name?, "binding"):
            return try await bind(request, target, name: name)
        case (.PUT, let name?, nil), (.PUT, let name?, "status"), (.PUT, let name?, "scale"):
            return try await update(request, target, name: name)
        case (.PATCH, let name?, nil), (.PATCH, let name?, "status"), (.PATCH, let name?, "scale"):
            return try await patch(request, target, name: name)
        case (.DELETE, let name?, nil):
            return try await delete(request, target, name: name)
        case (.DELETE, nil, nil):
            return try await deleteCollection(request, target)
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    private func list(_ request: HTTPRequest, _ target: Target) async throws(APIError) -> HTTPResponse {
        let (labels, fields) = try Self.selectors(request, target.resource)
        let limit = Int64(request.query["limit"] ?? "") ?? 0
        let continueToken = request.query["continue"].flatMap { $0.isEmpty ? nil : $0 }
        let page = try await store.list(target.resource, namespace: target.namespace, labels: labels, fields: fields,
                                        limit: max(0, limit), continueToken: continueToken)
        var metadata: JSONValue = ["resourceVersion": .string(String(page.resourceVersion))]
        if let token = page.continueToken { metadata["continue"] = .string(token) }
        if let remaining = page.remainingItemCount { metadata["remainingItemCount"] = .int(remaining) }
        if Self.wantsTable(request) {
            return Self.json(Tables.table(resource: target.resource.plural, objects: page.items, now: Date(),
                                          includeObject: request.query["includeObject"] ?? "Metadata", listMetadata: metadata))
        }
        return Self.json([
            "kind": .string(target.resource.kind + "List"), "apiVersion": .string(target.resource.groupVersion),
            "metadata": metadata, "items": .array(page.items),
        ])
    }

    private func respond(_ request: HTTPRequest, _ object: JSONValue, resource: ResourceType,
                         status: HTTPResponseStatus = .ok) -> HTTPResponse {
        if Self.wantsTable(request) {
            return Self.json(Tables.table(resource: resource.plural, objects: [object], now: Date(),
                                          includeObject: request.query["includeObject"] ?? "Metadata",
                                          listMetadata: ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? ""]),
                             status: status)
        }
        return Self.json(object, status: status)
    }

    private func watchResponse(_ request: HTTPRequest, _ target: Target) throws(APIError) -> HTTPResponse {
        let (labels, fields) = try Self.selectors(request, target.resource)
        let resourceVersion = Int64(request.query["resourceVersion"] ?? "")
        let timeout = Int64(request.query["timeoutSeconds"] ?? "").map { Duration.seconds($0) } ?? defaultWatchTimeout
        let table = Self.wantsTable(request)
        let includeObject = request.query["includeObject"] ?? "Metadata"
        let events = store.watch(target.resource, namespace: target.namespace, resourceVersion: resourceVersion,
                                 labels: labels, fields: fields, bookmarks: Self.flag(request.query["allowWatchBookmarks"]))
        let resource = target.resource
        let (chunks, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var first = true
                    do {
                        for try await event in events {
                            var line = event
                            if table && (event.type == "ADDED" || event.type == "MODIFIED" || event.type == "DELETED") {
                                var rendered = Tables.table(resource: resource.plural, objects: [event.object], now: Date(),
                                                            includeObject: includeObject,
                                                            listMetadata: ["resourceVersion": event.object[path: ["metadata", "resourceVersion"]] ?? ""])
                                // The column definitions come with the first event only, as kube-apiserver sends them.
                                if !first { rendered["columnDefinitions"] = [] }
                                first = false
                                line.object = rendered
                            }
                            continuation.yield(line.json.serialized + [0x0A])
                        }
                    } catch let error as APIError {
                        continuation.yield(ObjectStore.WatchEvent(type: "ERROR", object: error.status).json.serialized + [0x0A])
                    } catch {
                        // The client went away, or the store's watch failed past its retries.
                    }
                }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return .stream(contentType: "application/json", chunks: chunks)
    }

    private func create(_ request: HTTPRequest, _ target: Target) async throws(APIError) -> HTTPResponse {
        let body = try Self.parse(request.body)
        if let namespace = target.namespace ?? (target.resource.namespaced ? body[path: ["metadata", "namespace"]]?.stringValue : nil) {
            try await checkNamespaceAcceptsObjects(namespace)
        }
        let prepared = try ObjectRules.prepareForCreate(body, resource: target.resource, namespace: target.namespace)
        if request.query["dryRun"] == "All" { return respond(request, prepared, resource: target.resource, status: .created) }
        let created = try await store.create(target.resource, prepared)
        return respond(request, created, resource: target.resource, status: .created)
    }

    /// New objects go only into a namespace that exists and is not being deleted, as the
    /// NamespaceLifecycle admission plugin has it.
    private func checkNamespaceAcceptsObjects(_ namespace: String) async throws(APIError) {
        let namespaces = ResourceCatalog.find(group: "", plural: "namespaces")!
        let object = try await store.get(namespaces, namespace: nil, name: namespace)
        if object[path: ["metadata", "deletionTimestamp"]] != nil {
            throw APIError(code: 403, reason: "Forbidden",
                           message: "unable to create new content in namespace \(namespace) because it is being terminated")
        }
    }

    private func update(_ request: HTTPRequest, _ target: Target, name: String) async throws(APIError) -> HTTPResponse {
        let body = try Self.parse(request.body)
        let resource = target.resource
        let expected = ObjectStore.revision(of: body)
        if target.subresource == "scale" {
            let updated = try await change(request, resource, namespace: target.namespace, name: name, subresource: target.subresource) { current throws(APIError) in
                if expected > 0 && expected != ObjectStore.revision(of: current) { throw APIError.conflict(resource, name) }
                return try Self.applyScale(body, to: current, resource: resource)
            }
            return Self.json(Self.scale(of: updated, resource: resource))
        }
        let subresource = target.subresource
        let updated = try await change(request, resource, namespace: target.namespace, name: name, subresource: target.subresource) { current throws(APIError) in
            if expected > 0 && expected != ObjectStore.revision(of: current) { throw APIError.conflict(resource, name) }
            return try ObjectRules.prepareForUpdate(body, old: current, resource: resource, subresource: subresource)
        }
        return respond(request, updated, resource: resource)
    }

    private func patch(_ request: HTTPRequest, _ target: Target, name: String) async throws(APIError) -> HTTPResponse {
        let contentType = (request.headers.first(name: "Content-Type") ?? "").split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if contentType == "application/apply-patch+yaml" { return try await serverSideApply(request, target, name: name) }
        guard let type = PatchType(rawValue: contentType) else { throw APIError.unsupportedMediaType(contentType) }
        let patch = try Self.parse(request.body)
        let resource = target.resource
        let subresource = target.subresource
        let expected = ObjectStore.revision(of: patch)
        let updated = try await change(request, resource, namespace: target.namespace, name: name, subresource: target.subresource) { current throws(APIError) in
            if expected > 0 && expected != ObjectStore.revision(of: current) { throw APIError.conflict(resource, name) }
            if subresource == "scale" {
                let scale = try Self.apply(type, patch, to: Self.scale(of: current, resource: resource), kind: "Scale")
                return try Self.applyScale(scale, to: current, resource: resource)
            }
            let patched = try Self.apply(type, patch, to: current, kind: resource.kind)
            return try ObjectRules.prepareForUpdate(patched, old: current, resource: resource, subresource: subresource)
        }
        if subresource == "scale" { return Self.json(Self.scale(of: updated, resource: resource)) }
        return respond(request, updated, resource: resource)
    }

    /// An update through `transform`, or with `dryRun=All` its result without writing it. Unless
    /// it is an apply, the fields it changed are recorded as the request's field manager's.
    private func change(_ request: HTTPRequest, _ resource: ResourceType, namespace: String?, name: String,
                        subresource: String?, apply: Bool = false,
                        _ transform: @escaping (JSONValue) throws(APIError) -> JSONValue) async throws(APIError) -> JSONValue {
        let manager = Self.fieldManager(request)
        let tracked = { (current: JSONValue) throws(APIError) -> JSONValue in
            let changed = try transform(current)
            if apply { return changed }
            return ServerSideApply.recordUpdate(old: current, new: changed, manager: manager, resource: resource, subresource: subresource)
        }
        if request.query["dryRun"] == "All" {
            return try tracked(try await store.get(resource, namespace: namespace, name: name))
        }
        return try await store.update(resource, namespace: namespace, name: name, tracked)
    }

    /// The request's field manager: `fieldManager`, else its User-Agent up to the first "/", as
    /// kube-apiserver names one ("kubectl").
    static func fieldManager(_ request: HTTPRequest) -> String {
        if let manager = request.query["fieldManager"], !manager.isEmpty { return manager }
        let agent = request.headers.first(name: "User-Agent") ?? "unknown"
        return String(agent.split(separator: "/").first ?? "unknown")
    }

    /// Server-side apply: the applied configuration merged into the object, or the object created
    /// from it, with the manager's fields recorded; 409 when it would overwrite another manager's
    /// fields, unless `force=true`.
    private func serverSideApply(_ request: HTTPRequest, _ target: Target, name: String) async throws(APIError) -> HTTPResponse {
        guard let manager = request.query["fieldManager"], !manager.isEmpty else {
            throw APIError.badRequest("PATCH with apply requires fieldManager")
        }
        guard target.subresource == nil else {
            throw APIError.methodNotAllowed("apply is served on the object itself, not on its \(target.subresource ?? "") subresource")
        }
        let applied = try Self.parse(request.body)
        let resource = target.resource
        if let given = applied[path: ["metadata", "name"]]?.stringValue, given != name {
            throw APIError.badRequest("the name of the object (\(given)) does not match the name on the URL (\(name))")
        }
        let force = Self.flag(request.query["force"])
        do {
            let updated = try await change(request, resource, namespace: target.namespace, name: name, subresource: nil, apply: true) { current throws(APIError) in
                let merged = try ServerSideApply.apply(applied, to: current, manager: manager, force: force, resource: resource)
                return try ObjectRules.prepareForUpdate(merged, old: current, resource: resource, subresource: nil)
            }
            return respond(request, updated, resource: resource)
        } catch {
            guard error.reason == "NotFound" else { throw error }
        }
        if let namespace = target.namespace { try await checkNamespaceAcceptsObjects(namespace) }
        var body = applied
        body[path: ["metadata", "name"]] = .string(name)
        let prepared = ServerSideApply.created(try ObjectRules.prepareForCreate(body, resource: resource, namespace: target.namespace),
                                               from: applied, manager: manager, resource: resource)
        if request.query["dryRun"] == "All" { return respond(request, prepared, resource: resource, status: .created) }
        let created = try await store.create(resource, prepared)
        return respond(request, created, resource: resource, status: .created)
    }

    private func bind(_ request: HTTPRequest, _ target: Target, name: String) async throws(APIError) -> HTTPResponse {
        let binding = try Self.parse(request.body)
        guard let node = binding[path: ["target", "name"]]?.stringValue, !node.isEmpty else {
            throw APIError.invalid(target.resource, name, field: "target.name", "Required value")
        }
        try await store.bind(namespace: target.namespace ?? "default", pod: name, to: node)
        return Self.json(["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "code": 201],
                         status: .created)
    }

    /// A patch that cannot be applied is the request's fault: 422, as kube-apiserver answers.
    private static func apply(_ type: PatchType, _ patch: JSONValue, to object: JSONValue, kind: String) throws(APIError) -> JSONValue {
        do {
            return try Patch.apply(type, patch: patch, to: object, kind: kind)
        } catch {
            throw APIError(code: 422, reason: "Invalid", message: error.message)
        }
    }

    // MARK: Delete

    private func delete(_ request: HTTPRequest, _ target: Target, name: String) async throws(APIError) -> HTTPResponse {
        let options = request.body.isEmpty ? JSONValue.object([:]) : try Self.parse(request.body)
        let propagation = options["propagationPolicy"]?.stringValue ?? request.query["propagationPolicy"]
        let grace = options["gracePeriodSeconds"]?.intValue ?? Int64(request.query["gracePeriodSeconds"] ?? "")
        if request.query["dryRun"] == "All" {
            return respond(request, try await store.get(target.resource, namespace: target.namespace, name: name),
                           resource: target.resource)
        }
        let deleted = try await store.delete(target.resource, namespace: target.namespace, name: name,
                                             propagation: propagation, gracePeriod: grace,
                                             preconditions: options["preconditions"])
        return respond(request, deleted, resource: target.resource)
    }

    private func deleteCollection(_ request: HTTPRequest, _ target: Target) async throws(APIError) -> HTTPResponse {
        guard request.query["dryRun"] != "All" else {
            throw APIError.badRequest("dryRun is not supported for deleting a collection")
        }
        let (labels, fields) = try Self.selectors(request, target.resource)
        let page = try await store.list(target.resource, namespace: target.namespace, labels: labels, fields: fields)
        var deleted: [JSONValue] = []
        for object in page.items {
            guard let name = object[path: ["metadata", "name"]]?.stringValue else { continue }
            do {
                deleted.append(try await store.delete(target.resource, namespace: object[path: ["metadata", "namespace"]]?.stringValue,
                                                      name: name, propagation: request.query["propagationPolicy"],
                                                      gracePeriod: nil, preconditions: nil))
            } catch where error.reason == "NotFound" {
                continue
            }
        }
        return Self.json([
            "kind": .string(target.resource.kind + "List"), "apiVersion": .string(target.resource.groupVersion),
            "metadata": [:], "items": .array(deleted),
        ])
    }

    // MARK: Scale

    /// The autoscaling/v1 Scale of a deployment, replica set or stateful set.
    static func scale(of object: JSONValue, resource: ResourceType) -> JSONValue {
        var metadata: JSONValue = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            metadata[field] = object[path: ["metadata", field]]
        }
        var status: JSONValue = ["replicas": object[path: ["status", "replicas"]] ?? 0]
        if let selector = object[path: ["spec", "selector"]], let parsed = try? LabelSelector(json: selector) {
            status["selector"] = .string(parsed.description)
        }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
                "spec": ["replicas": object[path: ["spec", "replicas"]] ?? 0], "status": status]
    }

    static func applyScale(_ scale: JSONValue, to object: JSONValue, resource: ResourceType) throws(APIError) -> JSONValue {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        guard let replicas = scale[path: ["spec", "replicas"]]?.intValue, replicas >= 0 else {
            throw APIError.invalid(resource, name, field: "spec.replicas", "Invalid value: must be greater than or equal to 0")
        }
        var updated = object
        updated[path: ["spec", "replicas"]] = .int(replicas)
        if resource.tracksGeneration, updated["spec"] != object["spec"] {
            updated[path: ["metadata", "generation"]] = .int((object[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
        }
        return updated
    }

    // MARK: Helpers

    static func selectors(_ request: HTTPRequest, _ resource: ResourceType) throws(APIError) -> (LabelSelector?, FieldSelector?) {
        do {
            let labels = try request.query["labelSelector"].flatMap { $0.isEmpty ? nil : try LabelSelector(parsing: $0) }
            let fields = try request.query["fieldSelector"].flatMap { $0.isEmpty ? nil : try FieldSelector(parsing: $0) }
            try fields?.validate(resource: resource.plural)
            return (labels, fields)
        } catch {
            throw APIError.badRequest("\(error)")
        }
    }

    /// A boolean query parameter as Go's strconv.ParseBool reads it (Python's client sends "True").
    static func flag(_ value: String?) -> Bool {
        ["1", "t", "T", "TRUE", "true", "True"].contains(value ?? "")
    }

    static func wantsTable(_ request: HTTPRequest) -> Bool {
        (request.headers.first(name: "Accept") ?? "").contains("as=Table")
    }

    static func parse(_ body: [UInt8]) throws(APIError) -> JSONValue {
        do {
            return try JSONValue(parsing: body)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        .full(status: status, contentType: "application/json", body: value.serialized)
    }

    static func json(_ value: JSONValue, code: Int) -> HTTPResponse {
        json(value, status: HTTPResponseStatus(statusCode: code))
    }
}
