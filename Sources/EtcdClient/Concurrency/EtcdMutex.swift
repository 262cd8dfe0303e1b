import EtcdProto

/// A distributed lock as clientv3/concurrency's `Mutex`, interoperable with it and with
/// `etcdctl lock`: waiters queue by the creation revision of their key under a shared prefix.
///
/// Each waiter writes `prefix/<lease id in hex>` under its session's lease; the key with the lowest
/// creation revision holds the lock, every other waiter waits for the deletion of the key created just
/// before its own. Fair (first come, first served) and free of thundering herds.
public struct EtcdMutex: Sendable {
    /// The session whose lease the lock key is attached to.
    public let session: EtcdSession
    /// The lock's prefix, ending in "/".
    public let prefix: String

    /// A mutex named `name` (a "/" is appended, as clientv3 does).
    public init(session: EtcdSession, name: String) {
        self.session = session
        prefix = name + "/"
    }

    /// The key this session holds or waits with.
    public var key: String { session.ownKey(under: prefix) }

    /// Acquires the lock, waiting as long as it takes (cancel the task to give up; the wait key is
    /// then removed). Returns the creation revision of the lock key, a fencing token.
    @discardableResult
    public func lock() async throws -> Int64 {
        let client = session.client
        let response = try await client.txn(Txn(
            if: [.createRevision(key, .equal, 0)],
            then: [.put(key, "", [.lease(session.leaseID)]), .get(prefix, [.prefix, .sort(.create, .ascend), .limit(1)])],
            else: [.get(key), .get(prefix, [.prefix, .sort(.create, .ascend), .limit(1)])]))
        let myRevision = response.succeeded
            ? response.header.revision
            : response.responses[0].responseRange.kvs.first?.createRevision ?? response.header.revision
        let owner = response.responses[1].responseRange.kvs.first
        if owner?.createRevision == myRevision { return myRevision }
        do {
            try await client.waitForDeletes(prefix: prefix, maxCreateRevision: myRevision - 1)
            // The session may have expired while waiting: then the key is gone and the lock is not ours.
            guard try await client.get(key).kvs.first?.createRevision == myRevision else {
                throw EtcdError.etcd(.leaseNotFound)
            }
            return myRevision
        } catch {
            _ = try? await client.delete(key)
            throw error
        }
    }

    /// Releases the lock (or stops waiting for it).
    public func unlock() async throws {
        try await session.client.delete(key)
    }

    /// Runs `body` while holding the lock.
    public func withLock<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await lock()
        do {
            let result = try await body()
            try await unlock()
            return result
        } catch {
            try? await unlock()
            throw error
        }
    }
}
