import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// Kubernetes objects in etcd, kept as kube-apiserver keeps them: JSON under
/// `/registry/<resource>/<namespace>/<name>`, the resourceVersion being the key's mod_revision
/// (never stored in the value), a create a Txn on mod_revision == 0, an update a Txn on the
/// revision the caller read. The apiserver, the controllers, the scheduler and the node agent all
/// go through it, so that every writer follows the same rules.
public final class ObjectStore: Sendable {
    public let client: EtcdClient
    /// Events are attached to a lease of this many seconds, as kube-apiserver's `--event-ttl`.
    public let eventTTL: Int64
    private let eventLease = Mutex<(id: Int64, granted: ContinuousClock.Instant)?>(nil)

    public init(client: EtcdClient, eventTTL: Int64 = 3600) {
        self.client = client
        self.eventTTL = eventTTL
    }

    // MARK: Reads

    public func get(_ resource: ResourceType, namespace: String?, name: String) async throws(APIError) -> JSONValue {
        let response = try await call { try await self.client.get(resource.key(namespace: namespace, name: name)) }
        guard let kv = response.kvs.first else { throw APIError.notFound(resource, name) }
        return try Self.decode(kv.value, revision: kv.modRevision)
    }

    /// One page of a list, and where the next one starts.
    public struct ListResult: Sendable {
        public var items: [JSONValue]
        /// The revision the list was read at: the list's resourceVersion.
        public var resourceVersion: Int64
        /// A token for the next page, when there is one.
        public var continueToken: String?
        /// Objects after this page, when known (not with selectors).
        public var remainingItemCount: Int64?
    }

    /// The objects of a resource in a namespace (or all), filtered by selectors, at most `limit`
    /// of them when it is positive, continuing a previous page when `continueToken` is set.
    public func list(_ resource: ResourceType, namespace: String?, labels: LabelSelector? = nil,
                     fields: FieldSelector? = nil, limit: Int64 = 0, continueToken: String? = nil) async throws(APIError) -> ListResult {
        let prefix = resource.prefix(namespace: namespace)
        var start = prefix
        var revision: Int64 = 0
        if let continueToken {
            let token = try ContinueToken(decoding: continueToken, prefix: prefix)
            start = token.start
            revision = token.revision
        }
        let end = Self.prefixEnd(prefix)
        var items: [JSONValue] = []
        var remaining: Int64?
        var next: String?
        let filtered = labels != nil || fields != nil
        while true {
            // With selectors, pages are read until enough objects matched, as kube-apiserver does.
            let pageSize = limit > 0 ? max(limit - Int64(items.count), filtered ? 64 : 1) : 0
            let response: Etcdserverpb_RangeResponse
            do {
                // Limit 0 and revision 0 mean all of it, at the newest revision.
                response = try await client.get(start, .range(.until(end)), .limit(pageSize), .revision(revision))
            } catch let error as EtcdError where error.code == .compacted {
                throw APIError.expired("The provided continue parameter is too old to display a consistent list result. "
                    + "You can start a new list without the continue parameter, or use the continue token in this response "
                    + "to retrieve the remainder of the results. Continuing with the provided token results in an "
                    + "inconsistent list - objects that were created, modified, or deleted between the time the first "
                    + "chunk was returned and now may show up in the list.")
            } catch {
                throw Self.unavailable(error)
            }
            if revision == 0 { revision = response.header.revision }
            for kv in response.kvs {
                let object = try Self.decode(kv.value, revision: kv.modRevision)
                if let labels, !labels.matches(Self.labels(of: object)) { continue }
                if let fields, !fields.matches(object) { continue }
                items.append(object)
            }
            guard response.more, let last = response.kvs.last else {
                next = nil
                break
            }
            start = String(decoding: last.key, as: UTF8.self) + "\u{0}"
            if limit > 0 && Int64(items.count) >= limit {
                next = start
                if !filtered { remaining = response.count - Int64(response.kvs.count) }
                break
            }
        }
        let token = next.map { ContinueToken(revision: revision, start: $0).encoded(prefix: prefix) }
        return ListResult(items: items, resourceVersion: revision, continueToken: token, remainingItemCount: remaining)
    }

    // MARK: Writes

    /// Stores a new object whose metadata the caller has prepared (`ObjectRules.prepareForCreate`).
    /// An existing key is `AlreadyExists`.
    public func create(_ resource: ResourceType, _ object: JSONValue) async throws(APIError) -> JSONValue {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let key = resource.key(namespace: namespace, name: name)
        guard let stored = try await put(resource, object, at: key, if: .modRevision(key, .equal, 0)) else {
            throw APIError.alreadyExists(resource, name)
        }
        return stored
    }

    /// Replaces an object if it is still at `expectedRevision` (its mod_revision); otherwise a
    /// `Conflict`. Writes nothing when nothing changed, as kube-apiserver does, so that a
    /// controller's no-op update does not wake every watcher. An object being deleted whose
    /// last finalizer the update removes is deleted.
    public func replace(_ resource: ResourceType, _ object: JSONValue, expectedRevision: Int64,
                        previous: JSONValue) async throws(APIError) -> JSONValue {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let key = resource.key(namespace: namespace, name: name)
        var stored = object
        stored[path: ["metadata", "resourceVersion"]] = nil
        var old = previous
        old[path: ["metadata", "resourceVersion"]] = nil
        if stored == old {
            return previous
        }
        let finalizers = stored[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        // Gone once nothing holds it: no finalizers left and no grace period running (a pod's
        // graceful deletion ends when its node's agent deletes it again with a grace of 0).
        if stored[path: ["metadata", "deletionTimestamp"]] != nil && finalizers.isEmpty
            && (stored[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue ?? 0) == 0 {
            let response = try await call {
                try await self.client.txn(Txn(if: [.modRevision(key, .equal, expectedRevision)], then: [.delete(key)]))
            }
            guard response.succeeded else { throw APIError.conflict(resource, name) }
            stored[path: ["metadata", "resourceVersion"]] = .string(String(response.header.revision))
            return stored
        }
        guard let written = try await put(resource, stored, at: key, if: .modRevision(key, .equal, expectedRevision)) else {
            throw APIError.conflict(resource, name)
        }
        return written
    }

    /// Puts the object (without its resourceVersion; events on the shared event lease) if
    /// `compare` holds; the object as stored, with the revision of the write, or nil.
    private func put(_ resource: ResourceType, _ object: JSONValue, at key: String,
                     if compare: TxnCompare) async throws(APIError) -> JSONValue? {
        var stored = object
        stored[path: ["metadata", "resourceVersion"]] = nil
        let options: [PutOption] = resource.plural == "events" ? [.lease(try await eventLeaseID())] : []
        let value = stored.serialized
        let response = try await call {
            try await self.client.txn(Txn(if: [compare], then: [.put(key, Data(value), options)]))
        }
        guard response.succeeded else { return nil }
        stored[path: ["metadata", "resourceVersion"]] = .string(String(response.header.revision))
        return stored
    }

    /// Reads the object, lets `change` compute its new state, and writes that if the object did
    /// not change meanwhile; otherwise reads again and retries, as kube-apiserver's
    /// GuaranteedUpdate does for patches and for updates without a resourceVersion.
    public func update(_ resource: ResourceType, namespace: String?, name: String,
                       _ change: (JSONValue) throws(APIError) -> JSONValue) async throws(APIError) -> JSONValue {
        for _ in 0..<16 {
            let current = try await get(resource, namespace: namespace, name: name)
            let revision = Self.revision(of: current)
            let changed = try change(current)
            do {
                return try await replace(resource, changed, expectedRevision: revision, previous: current)
            } catch let error where error.reason == "Conflict" {
                continue
            }
        }
        throw APIError.conflict(resource, name)
    }

    /// Removes the object now, if it is still at `expectedRevision` (0: any).
    public func remove(_ resource: ResourceType, _ object: JSONValue, expectedRevision: Int64) async throws(APIError) -> JSONValue {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let key = resource.key(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: name)
        let compares: [TxnCompare] = expectedRevision > 0 ? [.modRevision(key, .equal, expectedRevision)] : [.version(key, .greater, 0)]
        let response = try await call { try await self.client.txn(Txn(if: compares, then: [.delete(key)])) }
        guard response.succeeded else {
            if expectedRevision > 0 { throw APIError.conflict(resource, name) }
            throw APIError.notFound(resource, name)
        }
        var removed = object
        removed[path: ["metadata", "resourceVersion"]] = .string(String(response.header.revision))
        return removed
    }

    // MARK: Watch

    /// A change of an object, as a Kubernetes watch reports it.
    public struct WatchEvent: Sendable, Equatable {
        /// ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
        public var type: String
        public var object: JSONValue

        public init(type: String, object: JSONValue) {
            self.type = type
            self.object = object
        }

        /// The line a watch response carries.
        public var json: JSONValue { ["type": .string(type), "object": object] }
    }

    /// Changes of a resource after `resourceVersion`; from the current state when it is nil or 0
    /// (every existing object first, as ADDED). Objects moving into the selectors are ADDED and out
    /// of them DELETED, as kube-apiserver's watch cache reports them. A revision already compacted
    /// ends the stream with an ERROR event carrying 410 Expired.
    public func watch(_ resource: ResourceType, namespace: String?, resourceVersion: Int64?,
                      labels: LabelSelector? = nil, fields: FieldSelector? = nil,
                      bookmarks: Bool = false) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self)
        let task = Task {
            do {
                var from = resourceVersion ?? 0
                if from == 0 {
                    var token: String?
                    repeat {
                        let page = try await self.list(resource, namespace: namespace, labels: labels, fields: fields,
                                                       limit: 500, continueToken: token)
                        for item in page.items { continuation.yield(WatchEvent(type: "ADDED", object: item)) }
                        token = page.continueToken
                        from = page.resourceVersion
                    } while token != nil
                }
                try await self.follow(resource, namespace: namespace, after: from, labels: labels, fields: fields,
                                      bookmarks: bookmarks, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func follow(_ resource: ResourceType, namespace: String?, after revision: Int64, labels: LabelSelector?,
                        fields: FieldSelector?, bookmarks: Bool,
                        into continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async throws {
        let prefix = resource.prefix(namespace: namespace)
        let matches = { (object: JSONValue) -> Bool in
            (labels?.matches(Self.labels(of: object)) ?? true) && (fields?.matches(object) ?? true)
        }
        do {
            for try await response in client.watch(prefix, .prefix, .startRevision(revision + 1), .prevKV, .progressNotify) {
                if response.events.isEmpty {
                    if bookmarks {
                        continuation.yield(WatchEvent(type: "BOOKMARK", object: [
                            "kind": .string(resource.kind), "apiVersion": .string(resource.groupVersion),
                            "metadata": ["resourceVersion": .string(String(response.header.revision))],
                        ]))
                    }
                    continue
                }
                for event in response.events {
                    let revision = event.kv.modRevision
                    let previous = event.hasPrevKv ? try? Self.decode(event.prevKv.value, revision: event.prevKv.modRevision) : nil
                    if event.type == .delete {
                        guard var object = previous, matches(object) else { continue }
                        object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                        continuation.yield(WatchEvent(type: "DELETED", object: object))
                        continue
                    }
                    let object = try Self.decode(event.kv.value, revision: revision)
                    let now = matches(object)
                    let before = previous.map(matches) ?? false
                    switch (before, now) {
                    case (true, true): continuation.yield(WatchEvent(type: "MODIFIED", object: object))
                    case (false, true): continuation.yield(WatchEvent(type: "ADDED", object: object))
                    case (true, false): continuation.yield(WatchEvent(type: "DELETED", object: object))
                    case (false, false): break
                    }
                }
            }
        } catch let error as EtcdError where error.code == .compacted {
            let message = "too old resource version: \(revision) (\(error.compactRevision ?? 0))"
            continuation.yield(WatchEvent(type: "ERROR", object: APIError.expired(message).status))
        }
    }

    // MARK: Helpers

    /// The object's resourceVersion as a revision (0 when missing or malformed).
    public static func revision(of object: JSONValue) -> Int64 {
        Int64(object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
    }

    public static func labels(of object: JSONValue) -> [String: String] {
        (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    static func decode(_ value: Data, revision: Int64) throws(APIError) -> JSONValue {
        var object: JSONValue
        do {
            object = try JSONValue(parsing: value)
        } catch {
            throw APIError.internalError("stored object is not JSON: \(error)")
        }
        object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
        return object
    }

    /// The end of the key range that starts with `prefix`.
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        bytes[bytes.count - 1] += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A lease shared by the events of one minute, as kube-apiserver's lease manager reuses one.
    private func eventLeaseID() async throws(APIError) -> Int64 {
        if let current = eventLease.withLock({ $0 }), current.granted.duration(to: .now) < .seconds(60) {
            return current.id
        }
        let ttl = eventTTL + 60
        let response = try await call { try await self.client.grantLease(ttl: ttl) }
        eventLease.withLock { $0 = (response.id, .now) }
        return response.id
    }

    private func call<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws(APIError) -> Result {
        do {
            return try await body()
        } catch {
            throw Self.unavailable(error)
        }
    }

    static func unavailable(_ error: any Error) -> APIError {
        APIError.timeout("the store did not answer: \(error)")
    }
}

/// The `continue` of a paged list: the revision of the first page and the key to go on from,
/// base64 JSON as kube-apiserver encodes it.
struct ContinueToken {
    var revision: Int64
    /// The full etcd key to start at.
    var start: String

    init(revision: Int64, start: String) {
        self.revision = revision
        self.start = start
    }

    init(decoding token: String, prefix: String) throws(APIError) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let json = try? JSONValue(parsing: data),
              let revision = json["rv"]?.intValue, let start = json["start"]?.stringValue, revision > 0 else {
            throw APIError.badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        }
        self.revision = revision
        self.start = prefix + start
    }

    func encoded(prefix: String) -> String {
        let relative = start.hasPrefix(prefix) ? String(start.dropFirst(prefix.count)) : start
        let json: JSONValue = ["v": "meta.k8s.io/v1", "rv": .int(revision), "start": .string(relative)]
        return Data(json.serialized).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
