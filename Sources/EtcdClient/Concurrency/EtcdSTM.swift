import EtcdProto
import Foundation

/// Software transactional memory over etcd, as clientv3/concurrency's STM in its serializable
/// snapshot mode: a closure reads and writes keys as if alone; all its reads come from one revision,
/// and its writes commit only if nothing it read or wrote changed since then, else it runs again.
///
/// ```swift
/// try await client.stm { tx in
///     let balance = Int(tx.get("account") ?? "0")!
///     tx.put("account", String(balance + 10))
/// }
/// ```
public final class EtcdSTMTransaction {
    private let client: EtcdClient
    private var revision: Int64 = 0
    private var reads: [Data: Mvccpb_KeyValue?] = [:]
    private var writes: [Data: Data?] = [:]

    init(client: EtcdClient) { self.client = client }

    /// The key's value as of the transaction's snapshot (or as written earlier in it); nil if absent.
    public func get(_ key: some EtcdBytesConvertible) async throws -> String? {
        try await getData(key).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The key's value as bytes.
    public func getData(_ key: some EtcdBytesConvertible) async throws -> Data? {
        let bytes = key.etcdBytes
        if let written = writes[bytes] { return written }
        if let read = reads[bytes] { return read?.value }
        let response = revision == 0
            ? try await client.get(bytes, .serializable)
            : try await client.get(bytes, .revision(revision), .serializable)
        if revision == 0 { revision = response.header.revision }
        reads[bytes] = response.kvs.first
        return response.kvs.first?.value
    }

    /// Writes the key when the transaction commits.
    public func put(_ key: some EtcdBytesConvertible, _ value: some EtcdBytesConvertible) {
        writes[key.etcdBytes] = .some(value.etcdBytes)
    }

    /// Deletes the key when the transaction commits.
    public func delete(_ key: some EtcdBytesConvertible) {
        writes[key.etcdBytes] = .some(nil)
    }

    /// Tries to commit; false when a key read or written changed after the snapshot.
    func commit() async throws -> Bool {
        var compares: [TxnCompare] = reads.map { key, kv in
            .modRevision(key, .equal, kv?.modRevision ?? 0)
        }
        if revision > 0 {
            compares += writes.keys.filter { reads[$0] == nil }.map { .modRevision($0, .less, revision + 1) }
        }
        let operations: [TxnOperation] = writes.map { key, value in
            value.map { .put(key, $0) } ?? .delete(key)
        }
        return try await client.txn(Txn(if: compares, then: operations)).succeeded
    }
}

extension EtcdClient {
    /// Runs `body` as a serializable transaction, again and again until it commits without conflict.
    /// - Returns: what `body` returned in the run that committed.
    @discardableResult
    public func stm<Result>(_ body: (EtcdSTMTransaction) async throws -> Result) async throws -> Result {
        while true {
            let transaction = EtcdSTMTransaction(client: self)
            let result = try await body(transaction)
            if try await transaction.commit() { return result }
        }
    }
}
