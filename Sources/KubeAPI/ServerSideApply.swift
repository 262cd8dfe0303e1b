import Foundation

/// Server-side apply (`kubectl apply --server-side`): an applied configuration is merged into
/// the live object, and `metadata.managedFields` records which manager set which fields, in
/// Kubernetes' FieldsV1 form (`{"f:spec":{"f:replicas":{}}}`, list items by their merge key as
/// `k:{"name":"main"}`, set members as `v:"x"`). A manager applying a value over a field another
/// manager set differently gets a 409 Conflict naming both, unless it forces; a field it applied
/// before and no longer applies is removed when no other manager holds it.
///
/// Ownership by ordinary writes (create, update, patch) is recorded once an object has
/// managedFields, that is, once it has been applied server-side; writes the controllers make
/// straight to the store are not recorded.
public enum ServerSideApply {
    /// A set of field paths: each key a path element, an empty set a leaf, "." the element itself.
    struct FieldSet: Equatable, Sendable {
        var children: [String: FieldSet] = [:]
        var isMember = false

        init() {}

        init(json: JSONValue?) {
            for (key, value) in json?.objectValue ?? [:] {
                if key == "." { isMember = true } else { children[key] = FieldSet(json: value) }
            }
        }

        var json: JSONValue {
            var object = children.mapValues(\.json)
            if isMember && !children.isEmpty { object["."] = [:] }
            return .object(object)
        }

        var isEmpty: Bool { children.isEmpty && !isMember }

        /// Every path in the set, leaves and members.
        var paths: [[String]] {
            var result: [[String]] = isMember ? [[]] : []
            for (key, child) in children {
                if child.children.isEmpty {
                    result.append([key])
                } else {
                    result += child.paths.map { [key] + $0 }
                }
            }
            return result
        }

        func contains(_ path: [String]) -> Bool {
            guard let first = path.first else { return isMember || children.isEmpty }
            return children[first]?.contains(Array(path.dropFirst())) ?? false
        }

        mutating func insert(_ path: [String]) {
            guard let first = path.first else {
                isMember = true
                return
            }
            var child = children[first] ?? FieldSet()
            // A path ending at a node with fields of its own marks it as a member.
            if path.count > 1 { child.insert(Array(path.dropFirst())) } else if !child.children.isEmpty { child.isMember = true }
            children[first] = child
        }

        mutating func remove(_ path: [String]) {
            guard let first = path.first, var child = children[first] else { return }
            if path.count == 1 {
                if child.children.isEmpty { children[first] = nil } else { child.isMember = false; children[first] = child }
                return
            }
            child.remove(Array(path.dropFirst()))
            children[first] = child.isEmpty ? nil : child
        }
    }

    /// Fields the apply machinery never tracks: identity, bookkeeping, and the status of a resource
    /// that has a status subresource.
    static let untracked: Set<String> = ["f:apiVersion", "f:kind"]
    static let untrackedMetadata: Set<String> = [
        "f:name", "f:namespace", "f:uid", "f:resourceVersion", "f:creationTimestamp", "f:generation", "f:managedFields",
        "f:selfLink", "f:deletionTimestamp", "f:deletionGracePeriodSeconds",
    ]

    /// The fields `object` sets.
    static func fields(of object: JSONValue, resource: ResourceType) -> FieldSet {
        var set = fields(of: object, schema: PatchSchema.forKind(resource.kind))
        for key in untracked { set.children[key] = nil }
        if resource.subresources.contains("status") { set.children["f:status"] = nil }
        if var metadata = set.children["f:metadata"] {
            for key in untrackedMetadata { metadata.children[key] = nil }
            set.children["f:metadata"] = metadata.children.isEmpty ? nil : metadata
        }
        return set
    }

    private static func fields(of value: JSONValue, schema: PatchSchema) -> FieldSet {
        var set = FieldSet()
        for (name, child) in value.objectValue ?? [:] {
            let childSchema = schema.field(name)
            var childSet = FieldSet()
            switch child {
            case .object(let members) where !members.isEmpty:
                childSet = fields(of: child, schema: childSchema)
            case .array(let items):
                if case .mergeList(let key?) = childSchema.strategy {
                    for item in items {
                        guard let element = elementKey(item, key: key) else { continue }
                        var itemSet = fields(of: item, schema: childSchema)
                        itemSet.isMember = true
                        childSet.children[element] = itemSet
                    }
                } else if case .mergeList(nil) = childSchema.strategy {
                    for item in items { childSet.children["v:" + item.text] = FieldSet() }
                }
            default:
                break
            }
            set.children["f:" + name] = childSet
        }
        return set
    }

    static func elementKey(_ item: JSONValue, key: String) -> String? {
        guard let value = item[key] else { return nil }
        return "k:" + JSONValue.object([key: value]).text
    }

    /// The value at a field path, nil when absent.
    static func value(at path: [String], in object: JSONValue) -> JSONValue? {
        guard let first = path.first else { return object }
        let rest = Array(path.dropFirst())
        if first.hasPrefix("f:") {
            return object[String(first.dropFirst(2))].flatMap { value(at: rest, in: $0) }
        }
        guard let items = object.arrayValue else { return nil }
        if first.hasPrefix("k:"), let wanted = try? JSONValue(parsing: Array(first.dropFirst(2).utf8)),
           let (key, keyValue) = wanted.objectValue?.first {
            return items.first { $0[key] == keyValue }.flatMap { value(at: rest, in: $0) }
        }
        if first.hasPrefix("v:"), let member = try? JSONValue(parsing: Array(first.dropFirst(2).utf8)) {
            return items.contains(member) ? member : nil
        }
        return nil
    }

    /// Whether two objects differ at a path: a list item (`k:`) only by being there or not, its
    /// fields being paths of their own; anything else by value.
    static func differs(at path: [String], _ first: JSONValue, _ second: JSONValue) -> Bool {
        let (a, b) = (value(at: path, in: first), value(at: path, in: second))
        if path.last?.hasPrefix("k:") == true { return (a == nil) != (b == nil) }
        return a != b
    }

    /// `object` without the field at `path`.
    static func removing(_ path: [String], from object: JSONValue) -> JSONValue {
        guard let first = path.first else { return object }
        let rest = Array(path.dropFirst())
        var result = object
        if first.hasPrefix("f:") {
            let name = String(first.dropFirst(2))
            if rest.isEmpty {
                result[name] = nil
            } else if let child = object[name] {
                result[name] = removing(rest, from: child)
            }
            return result
        }
        guard var items = object.arrayValue else { return object }
        if first.hasPrefix("k:"), let wanted = try? JSONValue(parsing: Array(first.dropFirst(2).utf8)),
           let (key, keyValue) = wanted.objectValue?.first, let index = items.firstIndex(where: { $0[key] == keyValue }) {
            if rest.isEmpty { items.remove(at: index) } else { items[index] = removing(rest, from: items[index]) }
        } else if first.hasPrefix("v:"), let member = try? JSONValue(parsing: Array(first.dropFirst(2).utf8)) {
            items.removeAll { $0 == member }
        }
        return .array(items)
    }

    /// `applied` merged into `live`: maps field by field, keyed lists item by item, sets as
    /// unions; anything else is replaced.
    static func merge(_ applied: JSONValue, into live: JSONValue?, schema: PatchSchema) -> JSONValue {
        switch (applied, live) {
        case (.object(let fields), .object(var result)?):
            for (name, value) in fields { result[name] = merge(value, into: result[name], schema: schema.field(name)) }
            return .object(result)
        case (.array(let items), .array(var result)?):
            switch schema.strategy {
            case .mergeList(let key?):
                for item in items {
                    if let index = result.firstIndex(where: { $0[key] != nil && $0[key] == item[key] }) {
                        result[index] = merge(item, into: result[index], schema: schema)
                    } else {
                        result.append(item)
                    }
                }
                return .array(result)
            case .mergeList(nil):
                for item in items where !result.contains(item) { result.append(item) }
                return .array(result)
            default:
                return applied
            }
        default:
            return applied
        }
    }

    // MARK: managedFields

    struct Entry {
        var manager: String
        var operation: String
        var apiVersion: String
        var time: String
        var fields: FieldSet
        var subresource: String?

        init(json: JSONValue) {
            manager = json["manager"]?.stringValue ?? ""
            operation = json["operation"]?.stringValue ?? "Update"
            apiVersion = json["apiVersion"]?.stringValue ?? ""
            time = json["time"]?.stringValue ?? ""
            fields = FieldSet(json: json["fieldsV1"])
            subresource = json["subresource"]?.stringValue
        }

        init(manager: String, operation: String, apiVersion: String, fields: FieldSet) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            time = ObjectRules.timestamp(Date())
            self.fields = fields
        }

        var json: JSONValue {
            var object: JSONValue = ["manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
                                     "time": .string(time), "fieldsType": "FieldsV1", "fieldsV1": fields.json]
            if let subresource { object["subresource"] = .string(subresource) }
            return object
        }
    }

    static func entries(of object: JSONValue) -> [Entry] {
        (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).map(Entry.init(json:))
    }

    static func store(_ entries: [Entry], in object: inout JSONValue) {
        let kept = entries.filter { !$0.fields.isEmpty }
        object[path: ["metadata", "managedFields"]] = kept.isEmpty ? nil : .array(kept.map(\.json))
    }

    /// How a path reads in a conflict message: `.spec.replicas`, `.spec.template.spec.containers[name="main"].image`.
    static func describe(_ path: [String]) -> String {
        path.map { element -> String in
            if element.hasPrefix("f:") { return "." + element.dropFirst(2) }
            if element.hasPrefix("k:"), let key = try? JSONValue(parsing: Array(element.dropFirst(2).utf8)),
               let (name, value) = key.objectValue?.first {
                return "[\(name)=\(value.text)]"
            }
            return "[" + element.dropFirst(2) + "]"
        }.joined()
    }

    // MARK: Operations

    /// The object once `manager` has applied `applied` to the existing `live` one.
    public static func apply(_ applied: JSONValue, to live: JSONValue, manager: String, force: Bool,
                             resource: ResourceType) throws(APIError) -> JSONValue {
        let appliedFields = fields(of: applied, resource: resource)
        var entries = entries(of: live)
        let previous = entries.first { $0.manager == manager && $0.operation == "Apply" }?.fields ?? FieldSet()
        var conflicts: [(manager: String, path: [String])] = []
        let appliedPaths = appliedFields.paths
        for index in entries.indices where !(entries[index].manager == manager && entries[index].operation == "Apply") {
            for path in appliedPaths where entries[index].fields.contains(path) {
                guard differs(at: path, applied, live) else { continue }
                if force { entries[index].fields.remove(path) } else { conflicts.append((entries[index].manager, path)) }
            }
        }
        if !conflicts.isEmpty {
            let lines = conflicts.map { "conflict with \"\($0.manager)\" using \(resource.groupVersion): \(describe($0.path))" }.sorted()
            let message = "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): " + lines.joined(separator: "\n")
            var details = APIError.details(resource, PodFacts.name(live))
            details["causes"] = .array(conflicts.map { ["reason": "FieldManagerConflict", "message": .string("conflict with \"\($0.manager)\""),
                                                         "field": .string(describe($0.path))] })
            throw APIError(code: 409, reason: "Conflict", message: message, details: details)
        }
        // Fields this manager applied before and no longer does, that nobody else holds, go.
        var result = live
        let others = entries.filter { !($0.manager == manager && $0.operation == "Apply") }
        for path in previous.paths.sorted(by: { $0.count > $1.count })
        where !appliedFields.contains(path) && !others.contains(where: { $0.fields.contains(path) }) {
            result = removing(path, from: result)
        }
        result = merge(applied, into: result, schema: PatchSchema.forKind(resource.kind))
        entries.removeAll { $0.manager == manager && $0.operation == "Apply" }
        entries.append(Entry(manager: manager, operation: "Apply", apiVersion: resource.groupVersion, fields: appliedFields))
        store(entries, in: &result)
        return result
    }

    /// A new object made from an applied configuration, with the manager holding the fields the
    /// configuration set (not those the server defaulted).
    public static func created(_ prepared: JSONValue, from applied: JSONValue, manager: String, resource: ResourceType) -> JSONValue {
        var result = prepared
        store([Entry(manager: manager, operation: "Apply", apiVersion: resource.groupVersion, fields: fields(of: applied, resource: resource))],
              in: &result)
        return result
    }

    /// After an ordinary write by `manager` turned `old` into `new`: the fields it changed become
    /// its own (an Update entry) and no longer anyone else's. Objects never applied are left alone.
    public static func recordUpdate(old: JSONValue, new: JSONValue, manager: String, resource: ResourceType,
                                    subresource: String?) -> JSONValue {
        var result = new
        if result[path: ["metadata", "managedFields"]] == nil { result[path: ["metadata", "managedFields"]] = old[path: ["metadata", "managedFields"]] }
        var entries = entries(of: result)
        guard !entries.isEmpty else { return result }
        let before = fields(of: old, resource: resource)
        let after = fields(of: new, resource: resource)
        let changed = after.paths.filter { differs(at: $0, new, old) }
        let removed = before.paths.filter { !after.contains($0) }
        guard !changed.isEmpty || !removed.isEmpty else { return result }
        for index in entries.indices {
            for path in changed + removed { entries[index].fields.remove(path) }
        }
        if !changed.isEmpty {
            if let index = entries.firstIndex(where: { $0.manager == manager && $0.operation == "Update" && $0.subresource == subresource }) {
                for path in changed { entries[index].fields.insert(path) }
                entries[index].time = ObjectRules.timestamp(Date())
            } else {
                var fields = FieldSet()
                for path in changed { fields.insert(path) }
                var entry = Entry(manager: manager, operation: "Update", apiVersion: resource.groupVersion, fields: fields)
                entry.subresource = subresource
                entries.append(entry)
            }
        }
        store(entries, in: &result)
        return result
    }
}
