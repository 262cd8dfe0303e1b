/// The three bodies kube-apiserver accepts on PATCH, told apart by the request's Content-Type.
public enum PatchType: String, Sendable {
    /// RFC 6902: a list of operations on JSON pointers.
    case json = "application/json-patch+json"
    /// RFC 7386: a partial object; `null` deletes, lists are replaced.
    case merge = "application/merge-patch+json"
    /// Kubernetes' strategic merge patch: a partial object whose lists merge as the Go types say.
    case strategic = "application/strategic-merge-patch+json"
}

/// Why a patch could not be applied. The message is shown to the client in a Status body, so it
/// is worded as kube-apiserver words it where there is a wording to follow.
public struct PatchError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    init(_ message: String) { self.message = message }
}

public enum Patch {
    /// Applies a patch document (the request body) of the given type to `original`, an object of
    /// `kind` (which decides, for a strategic merge patch, which lists merge and by which key).
    public static func apply(_ type: PatchType, patch: JSONValue, to original: JSONValue,
                             kind: String) throws(PatchError) -> JSONValue {
        switch type {
        case .merge: return MergePatch.apply(patch, to: original)
        case .json: return try JSONPatch.apply(patch, to: original)
        case .strategic: return try StrategicMergePatch.apply(patch, to: original, schema: .forKind(kind))
        }
    }
}

// MARK: - JSON merge patch (RFC 7386)

private enum MergePatch {
    static func apply(_ patch: JSONValue, to target: JSONValue?) -> JSONValue {
        guard case .object(let patchFields) = patch else { return patch }
        var fields = target?.objectValue ?? [:]
        for (key, value) in patchFields {
            if value.isNull {
                fields[key] = nil
            } else {
                fields[key] = apply(value, to: fields[key])
            }
        }
        return .object(fields)
    }
}

// MARK: - JSON Patch (RFC 6902)

private enum JSONPatch {
    static func apply(_ patch: JSONValue, to original: JSONValue) throws(PatchError) -> JSONValue {
        // kube-apiserver decodes the body into evanphx/json-patch's types first; say so the same way.
        guard case .array(let operations) = patch else {
            throw PatchError("json: cannot unmarshal \(patch.typeName) into Go value of type jsonpatch.Patch")
        }
        // Operations apply to a copy, so a failing one leaves nothing half done.
        var document = original
        for operation in operations {
            guard case .object(let fields) = operation else {
                throw PatchError("json: cannot unmarshal \(operation.typeName) into Go value of type jsonpatch.Operation")
            }
            try perform(fields, on: &document)
        }
        return document
    }

    private static func perform(_ operation: [String: JSONValue], on document: inout JSONValue) throws(PatchError) {
        let op = operation["op"]?.stringValue ?? "unknown"
        guard ["add", "remove", "replace", "move", "copy", "test"].contains(op) else {
            throw PatchError("Unexpected kind: \(op)")
        }
        let path = try pointer(operation, "path", op: op)
        switch op {
        case "add":
            try add(try value(operation, op: op), at: path, in: &document, op: op)
        case "remove":
            _ = try remove(path, from: &document, op: op)
        case "replace":
            let newValue = try value(operation, op: op)
            guard !path.tokens.isEmpty else { document = newValue; return }
            guard find(path.tokens[...], in: document) != nil else {
                throw PatchError("replace operation does not apply: doc is missing key: \(path.text): missing value")
            }
            try edit(&document, at: path, op: op) { parent, key throws(PatchError) in
                switch parent {
                case .object(var fields):
                    fields[key] = newValue
                    parent = .object(fields)
                case .array(var items):
                    // find() above proved the index is in range.
                    items[arrayIndex(key)!] = newValue
                    parent = .array(items)
                default:
                    break
                }
            }
        case "move":
            let from = try pointer(operation, "from", op: op)
            if from.tokens.count < path.tokens.count, Array(path.tokens.prefix(from.tokens.count)) == from.tokens {
                throw PatchError("move operation does not apply: \(from.text) cannot be moved into one of its children (\(path.text))")
            }
            guard find(from.tokens[...], in: document) != nil else {
                throw PatchError("move operation does not apply: doc is missing from path: \(from.text): missing value")
            }
            guard from.tokens != path.tokens else { return }
            let moved = try remove(from, from: &document, op: op)
            try add(moved, at: path, in: &document, op: op)
        case "copy":
            let from = try pointer(operation, "from", op: op)
            guard let copied = find(from.tokens[...], in: document) else {
                throw PatchError("copy operation does not apply: doc is missing from path: \(from.text): missing value")
            }
            try add(copied, at: path, in: &document, op: op)
        default: // test
            let expected = try value(operation, op: op)
            guard let actual = find(path.tokens[...], in: document) else {
                throw PatchError("test operation does not apply: is missing path: \(path.text): missing value")
            }
            guard actual.isSame(as: expected) else {
                throw PatchError("testing value \(path.text) failed: test failed")
            }
        }
    }

    /// A JSON pointer as written and as its unescaped reference tokens.
    private struct Pointer {
        var text: String
        var tokens: [String]
    }

    private static func pointer(_ operation: [String: JSONValue], _ member: String,
                                op: String) throws(PatchError) -> Pointer {
        guard let text = operation[member]?.stringValue else {
            throw PatchError("\(op) operation failed to decode \(member): missing value")
        }
        guard !text.isEmpty else { return Pointer(text: text, tokens: []) }
        guard text.hasPrefix("/") else {
            throw PatchError("\(op) operation failed to decode \(member): JSON pointer \"\(text)\" does not start with \"/\"")
        }
        var tokens: [String] = []
        for raw in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            guard let token = unescape(raw) else {
                throw PatchError("\(op) operation failed to decode \(member): invalid escape in JSON pointer \"\(text)\"")
            }
            tokens.append(token)
        }
        return Pointer(text: text, tokens: tokens)
    }

    /// RFC 6901: `~1` is `/` and `~0` is `~`; any other `~` is malformed.
    private static func unescape(_ raw: Substring) -> String? {
        var out = ""
        var iterator = raw.makeIterator()
        while let character = iterator.next() {
            guard character == "~" else { out.append(character); continue }
            switch iterator.next() {
            case "0": out.append("~")
            case "1": out.append("/")
            default: return nil
            }
        }
        return out
    }

    private static func value(_ operation: [String: JSONValue], op: String) throws(PatchError) -> JSONValue {
        // `"value": null` is a value; only a missing member is an error.
        guard let value = operation["value"] else { throw PatchError("\(op) operation has no value: missing value") }
        return value
    }

    /// RFC 6901 array indices: digits without a leading zero; "-" (past the end) is handled by add alone.
    static func arrayIndex(_ token: String) -> Int? {
        guard !token.isEmpty, token.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              token == "0" || !token.hasPrefix("0") else { return nil }
        return Int(token)
    }

    /// The value a pointer names, or nil when nothing is there.
    private static func find(_ tokens: ArraySlice<String>, in node: JSONValue) -> JSONValue? {
        guard let token = tokens.first else { return node }
        switch node {
        case .object(let fields):
            return fields[token].flatMap { find(tokens.dropFirst(), in: $0) }
        case .array(let items):
            guard let index = arrayIndex(token), index < items.count else { return nil }
            return find(tokens.dropFirst(), in: items[index])
        default:
            return nil
        }
    }

    private static func add(_ newValue: JSONValue, at path: Pointer, in document: inout JSONValue,
                            op: String) throws(PatchError) {
        guard !path.tokens.isEmpty else { document = newValue; return }
        try edit(&document, at: path, op: op) { parent, key throws(PatchError) in
            switch parent {
            case .object(var fields):
                fields[key] = newValue
                parent = .object(fields)
            case .array(var items):
                let index = key == "-" ? items.count : arrayIndex(key)
                guard let index, index <= items.count else { throw invalidIndex(key, op: op, path: path) }
                items.insert(newValue, at: index)
                parent = .array(items)
            default:
                throw missingPath(op: op, path: path)
            }
        }
    }

    /// Removes and returns the value at `path`.
    private static func remove(_ path: Pointer, from document: inout JSONValue,
                               op: String) throws(PatchError) -> JSONValue {
        guard !path.tokens.isEmpty else {
            throw PatchError("\(op) operation does not apply: the whole document cannot be removed")
        }
        var removed = JSONValue.null
        try edit(&document, at: path, op: op) { parent, key throws(PatchError) in
            switch parent {
            case .object(var fields):
                guard let value = fields.removeValue(forKey: key) else {
                    throw PatchError("error in \(op) for path: '\(path.text)': Unable to remove nonexistent key: \(key): missing value")
                }
                removed = value
                parent = .object(fields)
            case .array(var items):
                guard let index = arrayIndex(key), index < items.count else { throw invalidIndex(key, op: op, path: path) }
                removed = items.remove(at: index)
                parent = .array(items)
            default:
                throw missingPath(op: op, path: path)
            }
        }
        return removed
    }

    /// Walks to the container that holds the pointer's last token and lets `body` change it.
    private static func edit(_ document: inout JSONValue, at path: Pointer, op: String,
                             _ body: (inout JSONValue, String) throws(PatchError) -> Void) throws(PatchError) {
        func descend(_ node: inout JSONValue, _ tokens: ArraySlice<String>) throws(PatchError) {
            let token = tokens.first!
            guard tokens.count > 1 else { try body(&node, token); return }
            switch node {
            case .object(var fields):
                guard var child = fields[token] else { throw missingPath(op: op, path: path) }
                try descend(&child, tokens.dropFirst())
                fields[token] = child
                node = .object(fields)
            case .array(var items):
                guard let index = arrayIndex(token), index < items.count else { throw missingPath(op: op, path: path) }
                try descend(&items[index], tokens.dropFirst())
                node = .array(items)
            default:
                throw missingPath(op: op, path: path)
            }
        }
        try descend(&document, path.tokens[...])
    }

    private static func missingPath(op: String, path: Pointer) -> PatchError {
        PatchError("\(op) operation does not apply: doc is missing path: \"\(path.text)\": missing value")
    }

    private static func invalidIndex(_ key: String, op: String, path: Pointer) -> PatchError {
        PatchError("error in \(op) for path: '\(path.text)': Unable to access invalid index: \(key): invalid index referenced")
    }
}

// MARK: - Strategic merge patch

/// Where a strategic merge patch departs from a JSON merge patch, as the `patchStrategy` and
/// `patchMergeKey` tags on Kubernetes' Go types say: a tree of field names for each kind, walked
/// down the patch alongside the object (so `ports` under a container merges by `containerPort`
/// while `ports` under a Service's spec merges by `port`). A field it does not name merges maps
/// and replaces lists, which is what an untagged Go field does.
struct PatchSchema: Sendable {
    enum Strategy: Sendable, Equatable {
        /// Maps merge key by key and lists are replaced whole: a field without tags.
        case merge
        /// A list that merges: objects matched by the value of `key`, or primitives kept as a
        /// set in order when `key` is nil (`patchStrategy:"merge"` alone, as `finalizers`).
        case mergeList(key: String?)
        /// Replaced whole and never looked into: a RawExtension, whose content (a stored patch in
        /// a ControllerRevision) may hold directives that are data, not instructions.
        case opaque
    }

    var strategy: Strategy = .merge
    /// The fields of this value, or of each element when it is a list of objects.
    var fields: [String: PatchSchema] = [:]

    func field(_ name: String) -> PatchSchema {
        if let known = fields[name] { return known }
        // ObjectMeta is the same wherever it sits (the object's own, a pod template's), so it is
        // found by name rather than spelt out under every kind; this also serves unknown kinds.
        return name == "metadata" ? Self.objectMeta : PatchSchema()
    }

    var mergeKey: String? {
        if case .mergeList(let key) = strategy { return key }
        return nil
    }

    /// A kind without an entry still gets ObjectMeta's rules, through `field(_:)`.
    static func forKind(_ kind: String) -> PatchSchema { kinds[kind] ?? PatchSchema() }

    private static func object(_ fields: [String: PatchSchema]) -> PatchSchema { PatchSchema(fields: fields) }

    private static func list(by key: String, _ fields: [String: PatchSchema] = [:]) -> PatchSchema {
        PatchSchema(strategy: .mergeList(key: key), fields: fields)
    }

    private static let primitiveSet = PatchSchema(strategy: .mergeList(key: nil))

    private static let objectMeta = object(["ownerReferences": list(by: "uid"), "finalizers": primitiveSet])

    private static let container: [String: PatchSchema] = [
        "ports": list(by: "containerPort"),
        "env": list(by: "name"),
        "volumeMounts": list(by: "mountPath"),
        "volumeDevices": list(by: "devicePath"),
    ]

    private static let podSpec = object([
        "containers": list(by: "name", container),
        "initContainers": list(by: "name", container),
        "ephemeralContainers": list(by: "name", container),
        "volumes": list(by: "name"),
        "imagePullSecrets": list(by: "name"),
        "hostAliases": list(by: "ip"),
        "topologySpreadConstraints": list(by: "topologyKey"),
        "schedulingGates": list(by: "name"),
        "resourceClaims": list(by: "name"),
    ])

    private static let podTemplate = object(["metadata": objectMeta, "spec": podSpec])

    /// The status of the workloads, Namespace, Service and PersistentVolumeClaim: conditions by type.
    private static let conditionsStatus = object(["conditions": list(by: "type")])

    private static let workload = object(["spec": object(["template": podTemplate]), "status": conditionsStatus])

    /// Kinds whose tagged lists are all in ObjectMeta (ConfigMap, Secret, Endpoints, Event, Lease,
    /// autoscaling/v1's HorizontalPodAutoscaler, Scale) need no entry.
    private static let kinds: [String: PatchSchema] = [
        "Pod": object([
            "spec": podSpec,
            "status": object([
                "conditions": list(by: "type"),
                "podIPs": list(by: "ip"),
                "hostIPs": list(by: "ip"),
                "resourceClaimStatuses": list(by: "name"),
            ]),
        ]),
        "Deployment": workload,
        "ReplicaSet": workload,
        "DaemonSet": workload,
        "StatefulSet": object([
            // volumeClaimTemplates is untagged (atomic): replaced whole.
            "spec": object(["template": podTemplate, "volumeClaimTemplates": PatchSchema()]),
            "status": conditionsStatus,
        ]),
        "Service": object(["spec": object(["ports": list(by: "port")]), "status": conditionsStatus]),
        "Node": object([
            "spec": object(["podCIDRs": primitiveSet]),
            "status": object(["conditions": list(by: "type"), "addresses": list(by: "type")]),
        ]),
        "Namespace": object(["status": conditionsStatus]),
        "PersistentVolumeClaim": object(["status": conditionsStatus]),
        "ControllerRevision": object(["data": PatchSchema(strategy: .opaque)]),
    ]
}

/// Applies a strategic merge patch as apimachinery's strategicpatch package does on the server
/// (`StrategicMergeMapPatch`: parallel lists merged, unmatched nulls ignored).
private enum StrategicMergePatch {
    typealias Object = [String: JSONValue]

    private static let directive = "$patch"
    private static let retainKeys = "$retainKeys"
    private static let setElementOrder = "$setElementOrder"
    private static let deleteFromPrimitiveList = "$deleteFromPrimitiveList"

    static func apply(_ patch: JSONValue, to original: JSONValue, schema: PatchSchema) throws(PatchError) -> JSONValue {
        // As kube-apiserver, which decodes the body into a map before patching.
        guard case .object(let patchFields) = patch else {
            throw PatchError("json: cannot unmarshal \(patch.typeName) into Go value of type map[string]interface {}")
        }
        guard case .object(let originalFields) = original else { throw PatchError("invalid JSON document") }
        return .object(try mergeMap(originalFields, patchFields, schema, at: ""))
    }

    // MARK: Maps

    private static func mergeMap(_ original: Object, _ patch: Object, _ schema: PatchSchema,
                                 at path: String) throws(PatchError) -> Object {
        var patch = patch
        if let marker = patch.removeValue(forKey: directive) {
            switch marker {
            // Merging the rest into nothing drops its nulls and carries out its own directives.
            case "replace": return try mergeMap([:], patch, schema, at: path)
            case "delete": return [:]
            default: throw PatchError("unknown patch type: \(marker.text) in map \(describe(path))")
            }
        }
        var result = original
        if let retained = patch.removeValue(forKey: retainKeys) {
            try retain(retained, in: &result, patch: patch, at: path)
        }

        // Lists named by $setElementOrder are merged and ordered first, and then left alone.
        var ordered: Set<String> = []
        for key in patch.keys.sorted() where key.hasPrefix(setElementOrder) {
            let field = try directiveField(key, prefix: setElementOrder, problem: "invalid patch format of setElementOrder list")
            if let list = try orderedList(field, order: patch[key]!, original: result[field], patch: patch[field],
                                          schema.field(field), at: join(path, field)) {
                result[field] = .array(list)
            }
            ordered.insert(field)
        }

        var deletions: [(field: String, values: JSONValue)] = []
        for key in patch.keys.sorted() {
            let value = patch[key]!
            if key.hasPrefix(setElementOrder) || ordered.contains(key) { continue }
            if key.hasPrefix(deleteFromPrimitiveList) {
                let field = try directiveField(key, prefix: deleteFromPrimitiveList, problem: "invalid patch format of primitive list")
                deletions.append((field, value))
                continue
            }
            result[key] = try mergeValue(result[key], value, schema.field(key), at: join(path, key))
        }
        // Deletions from primitive lists go last, so a value both added and deleted ends up deleted.
        for (field, values) in deletions {
            guard case .array(let doomed) = values else { throw PatchError("invalid patch format of primitive list") }
            if case .array(let items)? = result[field] {
                result[field] = .array(items.filter { item in !doomed.contains { $0.isSame(as: item) } })
            }
        }
        return result
    }

    /// The merged value of one field, or nil when the field is to be absent.
    private static func mergeValue(_ original: JSONValue?, _ patch: JSONValue, _ schema: PatchSchema,
                                   at path: String) throws(PatchError) -> JSONValue? {
        if patch.isNull { return nil }
        if schema.strategy == .opaque { return patch }
        switch patch {
        case .object(let patchFields):
            if case .object(let originalFields)? = original {
                return .object(try mergeMap(originalFields, patchFields, schema, at: path))
            }
            // Nothing to delete: the field stays absent rather than becoming an empty map.
            if patchFields[directive] == "delete" { return nil }
            return .object(try mergeMap([:], patchFields, schema, at: path))
        case .array(let patchItems):
            if case .array(let originalItems)? = original {
                return .array(try mergeList(originalItems, patchItems, schema, at: path))
            }
            return .array(try mergeList([], patchItems, schema, at: path))
        default:
            return patch
        }
    }

    /// `$retainKeys`: the keys of the merged map are those listed, and the patch may set no others.
    private static func retain(_ retained: JSONValue, in result: inout Object, patch: Object,
                               at path: String) throws(PatchError) {
        guard case .array(let names) = retained else { throw PatchError("invalid patch format of retainKeys") }
        let kept = Set(names.compactMap(\.stringValue))
        for (key, value) in patch where !value.isNull && !key.hasPrefix(deleteFromPrimitiveList)
            && !key.hasPrefix(setElementOrder) && !kept.contains(key) {
            throw PatchError("invalid patch format of retainKeys: \(describe(join(path, key))) is not in the $retainKeys list")
        }
        result = result.filter { kept.contains($0.key) }
    }

    /// The field named by `$setElementOrder/<field>` or `$deleteFromPrimitiveList/<field>`.
    private static func directiveField(_ key: String, prefix: String, problem: String) throws(PatchError) -> String {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == prefix else { throw PatchError(problem) }
        return String(parts[1])
    }

    // MARK: Lists

    private static func mergeList(_ original: [JSONValue], _ patch: [JSONValue], _ schema: PatchSchema,
                                  at path: String) throws(PatchError) -> [JSONValue] {
        switch schema.strategy {
        case .mergeList(let key?): return try mergeObjects(original, patch, key: key, schema, at: path)
        case .mergeList(nil): return try mergePrimitives(original, patch, at: path)
        default: return try replacement(patch, schema, at: path)
        }
    }

    /// A list that does not merge is the patch's, less any directive elements, its maps cleaned
    /// of nulls and directives as if merged into nothing.
    private static func replacement(_ patch: [JSONValue], _ schema: PatchSchema,
                                    at path: String) throws(PatchError) -> [JSONValue] {
        var result: [JSONValue] = []
        for item in patch {
            guard case .object(let fields) = item else { result.append(item); continue }
            if fields[directive] != nil { continue }
            result.append(.object(try mergeMap([:], fields, schema, at: path)))
        }
        return result
    }

    /// A primitive list with patchStrategy merge is a union: each value once.
    private static func mergePrimitives(_ original: [JSONValue], _ patch: [JSONValue],
                                        at path: String) throws(PatchError) -> [JSONValue] {
        for item in original + patch {
            switch item {
            case .array: throw PatchError("lists of lists are not supported (\(describe(path)))")
            case .object: throw PatchError("cannot merge lists without merge key for \(describe(path))")
            default: continue
            }
        }
        let patchItems = unique(patch)
        let serverOnly = unique(original).filter { item in !patchItems.contains { $0.isSame(as: item) } }
        return interleave(serverOnly, patchItems, serverOrder: original, identity: { $0 })
    }

    /// A list of objects with a merge key: patch elements merge into the original element with the
    /// same key or are added; `$patch` elements delete by key or replace the whole list.
    private static func mergeObjects(_ original: [JSONValue], _ patch: [JSONValue], key: String,
                                     _ schema: PatchSchema, at path: String) throws(PatchError) -> [JSONValue] {
        if original.isEmpty && patch.isEmpty { return original }
        for item in original + patch where item.objectValue == nil {
            throw PatchError("\(describe(path)) must be a list of objects merged by \"\(key)\", but it holds \(item.text)")
        }

        var working = original
        var additions: [Object] = []
        var replaceAll = false
        for item in patch {
            let fields = item.objectValue!
            guard let marker = fields[directive] else { additions.append(fields); continue }
            switch marker {
            case "delete":
                let doomed = try mergeKeyValue(fields, key, at: path)
                working.removeAll { $0[key]?.isSame(as: doomed) ?? false }
            case "replace":
                replaceAll = true
            case "merge":
                throw PatchError("merging lists cannot yet be specified in the patch")
            default:
                throw PatchError("unknown patch type: \(marker.text) in map \(item.text)")
            }
        }
        if replaceAll {
            var result: [JSONValue] = []
            for fields in additions {
                _ = try mergeKeyValue(fields, key, at: path)
                result.append(.object(try mergeMap([:], fields, schema, at: path)))
            }
            return result
        }

        let serverOrder = working
        var patchKeys: [JSONValue] = []
        for fields in additions {
            let value = try mergeKeyValue(fields, key, at: path)
            patchKeys.append(value)
            let elementPath = "\(path)[\(key)=\(value.text)]"
            if let index = working.firstIndex(where: { $0[key]?.isSame(as: value) ?? false }) {
                working[index] = .object(try mergeMap(working[index].objectValue!, fields, schema, at: elementPath))
            } else {
                working.append(.object(try mergeMap([:], fields, schema, at: elementPath)))
            }
        }

        var patchItems: [(position: Int, item: JSONValue)] = []
        var serverOnly: [JSONValue] = []
        for item in working {
            let value = try mergeKeyValue(item.objectValue!, key, at: path)
            if let position = patchKeys.firstIndex(where: { $0.isSame(as: value) }) {
                patchItems.append((position, item))
            } else {
                serverOnly.append(item)
            }
        }
        // Sorting by (position in the patch, position now) keeps duplicates of a key in place.
        let sortedPatchItems = patchItems.enumerated()
            .sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
            .map(\.element.item)
        return interleave(serverOnly, sortedPatchItems, serverOrder: serverOrder, identity: { $0[key] })
    }

    private static func mergeKeyValue(_ fields: Object, _ key: String, at path: String) throws(PatchError) -> JSONValue {
        guard let value = fields[key] else {
            throw PatchError("map: \(JSONValue.object(fields).text) does not contain declared merge key: \(key) (in \(describe(path)))")
        }
        return value
    }

    /// Merges the patch's elements (`right`) among the others (`left`), each side keeping its own
    /// order: a left element goes first only when both it and the right element were in the
    /// original and it came earlier there. This is apimachinery's `mergeSortedSlice`, which is why
    /// new elements land before the original ones they are compared with.
    private static func interleave(_ left: [JSONValue], _ right: [JSONValue], serverOrder: [JSONValue],
                                   identity: (JSONValue) -> JSONValue?) -> [JSONValue] {
        func position(_ item: JSONValue) -> Int? {
            guard let id = identity(item) else { return nil }
            return serverOrder.firstIndex { identity($0).map { $0.isSame(as: id) } ?? false }
        }
        var result: [JSONValue] = []
        result.reserveCapacity(left.count + right.count)
        var i = 0, j = 0
        while i < left.count || j < right.count {
            if j == right.count {
                result.append(left[i]); i += 1
            } else if i == left.count {
                result.append(right[j]); j += 1
            } else if let l = position(left[i]), let r = position(right[j]), l < r {
                result.append(left[i]); i += 1
            } else {
                result.append(right[j]); j += 1
            }
        }
        return result
    }

    /// `$setElementOrder/<field>`: merges the field's list as usual, then puts the listed elements in
    /// the listed order, the others (the server's own) slotted in by their original places.
    /// Returns nil when neither the object nor the patch has the list.
    private static func orderedList(_ field: String, order: JSONValue, original: JSONValue?, patch: JSONValue?,
                                    _ schema: PatchSchema, at path: String) throws(PatchError) -> [JSONValue]? {
        let problem = "invalid patch format of setElementOrder list"
        guard case .array(let order) = order else { throw PatchError(problem) }
        var originalList: [JSONValue]?
        if let original {
            guard case .array(let items) = original else { throw PatchError("\(describe(path)) is not a list") }
            originalList = items
        }
        var patchList: [JSONValue]?
        if let patch {
            guard case .array(let items) = patch else { throw PatchError(problem) }
            patchList = items
        }
        let key = schema.mergeKey
        let identity: (JSONValue) -> JSONValue? = { item in
            guard let key else { return item }
            return item[key]
        }
        if let key {
            for item in order where item[key] == nil {
                throw PatchError("map: \(item.text) does not contain declared merge key: \(key) (in $setElementOrder of \(describe(path)))")
            }
        }
        if let patchList { try checkOrder(patchList, against: order, identity: identity, at: path) }

        let merged: [JSONValue]
        switch (originalList, patchList) {
        case (nil, nil): return nil
        case (let originalList?, nil): merged = originalList
        case (let originalList, let patchList?): merged = try mergeList(originalList ?? [], patchList, schema, at: path)
        }

        func orderPosition(_ item: JSONValue) -> Int? {
            guard let id = identity(item) else { return nil }
            return order.firstIndex { identity($0).map { $0.isSame(as: id) } ?? false }
        }
        var listed: [(position: Int, offset: Int, item: JSONValue)] = []
        var serverOnly: [JSONValue] = []
        for (offset, item) in merged.enumerated() {
            if let key, item[key] == nil {
                throw PatchError("map: \(item.text) does not contain declared merge key: \(key) (in \(describe(path)))")
            }
            if let position = orderPosition(item) {
                listed.append((position, offset, item))
            } else {
                serverOnly.append(item)
            }
        }
        let sortedListed = listed.sorted { ($0.position, $0.offset) < ($1.position, $1.offset) }.map(\.item)
        return interleave(serverOnly, sortedListed, serverOrder: originalList ?? [], identity: identity)
    }

    /// The patch's own elements must appear in the `$setElementOrder` list, in the same order.
    private static func checkOrder(_ patch: [JSONValue], against order: [JSONValue],
                                   identity: (JSONValue) -> JSONValue?, at path: String) throws(PatchError) {
        let elements = patch.filter { $0[directive] == nil }
        var p = 0, o = 0
        while p < elements.count && o < order.count {
            if let id = identity(elements[p]), let listed = identity(order[o]), id.isSame(as: listed) { p += 1 }
            o += 1
        }
        if p < elements.count {
            throw PatchError("the order of \(describe(path)) in the patch \(JSONValue.array(patch).text) doesn't match "
                + "its $setElementOrder list \(JSONValue.array(order).text)")
        }
    }

    private static func unique(_ items: [JSONValue]) -> [JSONValue] {
        var result: [JSONValue] = []
        for item in items where !result.contains(where: { $0.isSame(as: item) }) { result.append(item) }
        return result
    }

    private static func join(_ path: String, _ field: String) -> String { path.isEmpty ? field : "\(path).\(field)" }

    private static func describe(_ path: String) -> String { path.isEmpty ? "the object" : path }
}

// MARK: - Helpers

extension JSONValue {
    /// Equality as RFC 6902's test and the merge keys need it: numbers by value however written
    /// (`1` and `1.0` are the same port), objects regardless of key order.
    fileprivate func isSame(as other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            return Double(a) == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isSame(as: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.isSame(as: $0) } ?? false }
        default:
            return self == other
        }
    }

    /// The word Go's encoding/json uses for a JSON value's type in its unmarshalling errors.
    fileprivate var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
