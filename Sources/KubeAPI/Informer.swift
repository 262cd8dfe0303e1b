import Foundation
import Synchronization

/// A local copy of one resource's objects, kept current by list-then-watch (client-go's
/// informer): lists, then watches from the list's revision; a watch that fails or expires lists
/// again. Every change is handed to the observers after the cache has it, so that a
/// controller reacting to it reads a cache at least that new.
public final class Informer: Sendable {
    public let resource: ResourceType
    let store: ObjectStore
    private let objects = Mutex<[String: JSONValue]>([:])
    private let observers = Mutex<[@Sendable (ObjectStore.WatchEvent) -> Void]>([])
    private let synced = Mutex<Bool>(false)

    public init(store: ObjectStore, resource: ResourceType) {
        self.store = store
        self.resource = resource
    }

    /// `observer` is called with every change (and with ADDED for each object of every list).
    public func observe(_ observer: @escaping @Sendable (ObjectStore.WatchEvent) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Whether the first list has arrived.
    public var hasSynced: Bool { synced.withLock { $0 } }

    /// Every cached object.
    public var all: [JSONValue] { objects.withLock { Array($0.values) } }

    public func get(namespace: String?, name: String) -> JSONValue? {
        objects.withLock { $0[Self.key(namespace: namespace, name: name)] }
    }

    /// Cached objects of a namespace.
    public func list(namespace: String?) -> [JSONValue] {
        guard let namespace else { return all }
        return objects.withLock { $0.values.filter { $0[path: ["metadata", "namespace"]]?.stringValue == namespace } }
    }

    public static func key(namespace: String?, name: String) -> String {
        (namespace ?? "") + "/" + name
    }

    public static func key(of object: JSONValue) -> String {
        key(namespace: object[path: ["metadata", "namespace"]]?.stringValue,
            name: object[path: ["metadata", "name"]]?.stringValue ?? "")
    }

    /// Lists and watches until cancelled.
    public func run() async {
        while !Task.isCancelled {
            do {
                var listed: [String: JSONValue] = [:]
                var token: String?
                var revision: Int64 = 0
                repeat {
                    let page = try await store.list(resource, namespace: nil, limit: 500, continueToken: token)
                    for item in page.items { listed[Self.key(of: item)] = item }
                    token = page.continueToken
                    if revision == 0 { revision = page.resourceVersion }
                } while token != nil
                let removed = objects.withLock { cached in
                    let gone = cached.filter { listed[$0.key] == nil }.map(\.value)
                    cached = listed
                    return gone
                }
                synced.withLock { $0 = true }
                for object in removed { notify(ObjectStore.WatchEvent(type: "DELETED", object: object)) }
                for object in listed.values { notify(ObjectStore.WatchEvent(type: "ADDED", object: object)) }
                for try await event in store.watch(resource, namespace: nil, resourceVersion: revision) {
                    if event.type == "ERROR" { break }
                    let key = Self.key(of: event.object)
                    objects.withLock { cached in
                        if event.type == "DELETED" { cached[key] = nil } else { cached[key] = event.object }
                    }
                    notify(event)
                }
            } catch {
                // The store is unreachable or the watch ended: list again after a pause.
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func notify(_ event: ObjectStore.WatchEvent) {
        for observer in observers.withLock({ $0 }) { observer(event) }
    }
}

/// Keys waiting to be reconciled: each at most once in the queue, handed to one worker at a
/// time; a key that failed comes back after a delay.
public final class WorkQueue: Sendable {
    private let state = Mutex<(queued: [String], pending: Set<String>, waiter: CheckedContinuation<String, Never>?)>(([], [], nil))

    public init() {}

    public func add(_ key: String) {
        let resumed: (CheckedContinuation<String, Never>, String)? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, key)
            }
            if state.pending.insert(key).inserted { state.queued.append(key) }
            return nil
        }
        if let (waiter, key) = resumed { waiter.resume(returning: key) }
    }

    public func add(_ key: String, after delay: Duration) {
        Task {
            try? await Task.sleep(for: delay)
            self.add(key)
        }
    }

    /// Hands keys to `handle` one at a time until cancelled; a key it fails on comes back after a second.
    public func process(_ handle: (String) async throws -> Void) async {
        while !Task.isCancelled {
            let key = await next()
            do {
                try await handle(key)
            } catch {
                add(key, after: .seconds(1))
            }
        }
    }

    /// The next key; waits for one. Only one task may wait at a time.
    public func next() async -> String {
        await withCheckedContinuation { continuation in
            let key: String? = state.withLock { state in
                if !state.queued.isEmpty {
                    let key = state.queued.removeFirst()
                    state.pending.remove(key)
                    return key
                }
                state.waiter = continuation
                return nil
            }
            if let key { continuation.resume(returning: key) }
        }
    }
}
