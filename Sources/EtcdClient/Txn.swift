import EtcdProto
import Foundation

/// One operation of a transaction branch.
public enum TxnOperation: Sendable {
    case get(any EtcdBytesConvertible, [GetOption] = [])
    case put(any EtcdBytesConvertible, any EtcdBytesConvertible, [PutOption] = [])
    case delete(any EtcdBytesConvertible, [DeleteOption] = [])
    /// A nested transaction.
    case txn(Txn)

    var request: Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        switch self {
        case .get(let key, let options): op.requestRange = GetOption.request(key, options)
        case .put(let key, let value, let options): op.requestPut = PutOption.request(key, value, options)
        case .delete(let key, let options): op.requestDeleteRange = DeleteOption.request(key, options)
        case .txn(let txn): op.requestTxn = txn.request
        }
        return op
    }
}

/// A condition of a transaction on a key (or, with `range`, on every key of a range).
public struct TxnCompare: Sendable {
    /// The comparison operators of etcd.
    public enum Operator: Sendable {
        case equal, notEqual, greater, less

        var result: Etcdserverpb_Compare.CompareResult {
            switch self {
            case .equal: return .equal
            case .notEqual: return .notEqual
            case .greater: return .greater
            case .less: return .less
            }
        }
    }

    /// The comparison as sent.
    public var compare: Etcdserverpb_Compare

    private init(_ key: some EtcdBytesConvertible, _ op: Operator, range: KeyRange?,
                 _ fill: (inout Etcdserverpb_Compare) -> Void) {
        compare = Etcdserverpb_Compare()
        compare.key = key.etcdBytes
        compare.result = op.result
        range?.apply(to: &compare.key, rangeEnd: &compare.rangeEnd)
        fill(&compare)
    }

    /// Compares the key's value.
    public static func value(_ key: some EtcdBytesConvertible, _ op: Operator, _ value: some EtcdBytesConvertible,
                             range: KeyRange? = nil) -> TxnCompare {
        TxnCompare(key, op, range: range) { $0.target = .value; $0.value = value.etcdBytes }
    }

    /// Compares the key's version (0 when the key does not exist).
    public static func version(_ key: some EtcdBytesConvertible, _ op: Operator, _ version: Int64,
                               range: KeyRange? = nil) -> TxnCompare {
        TxnCompare(key, op, range: range) { $0.target = .version; $0.version = version }
    }

    /// Compares the key's creation revision (0 when the key does not exist).
    public static func createRevision(_ key: some EtcdBytesConvertible, _ op: Operator, _ revision: Int64,
                                      range: KeyRange? = nil) -> TxnCompare {
        TxnCompare(key, op, range: range) { $0.target = .create; $0.createRevision = revision }
    }

    /// Compares the key's last modification revision (0 when the key does not exist).
    public static func modRevision(_ key: some EtcdBytesConvertible, _ op: Operator, _ revision: Int64,
                                   range: KeyRange? = nil) -> TxnCompare {
        TxnCompare(key, op, range: range) { $0.target = .mod; $0.modRevision = revision }
    }

    /// Compares the key's lease id (0 when it has none).
    public static func lease(_ key: some EtcdBytesConvertible, _ op: Operator, _ lease: Int64,
                             range: KeyRange? = nil) -> TxnCompare {
        TxnCompare(key, op, range: range) { $0.target = .lease; $0.lease = lease }
    }
}

/// A transaction: if every comparison holds, the `then` operations run, else the `else` ones; all
/// atomically at one revision.
///
/// ```swift
/// let swapped = try await client.txn(Txn(
///     if: [.value("config", .equal, "v1")],
///     then: [.put("config", "v2")],
///     else: [.get("config")]
/// )).succeeded
/// ```
public struct Txn: Sendable {
    public var compares: [TxnCompare]
    public var success: [TxnOperation]
    public var failure: [TxnOperation]

    public init(if compares: [TxnCompare] = [], then success: [TxnOperation] = [], else failure: [TxnOperation] = []) {
        self.compares = compares
        self.success = success
        self.failure = failure
    }

    /// The request as sent.
    public var request: Etcdserverpb_TxnRequest {
        var request = Etcdserverpb_TxnRequest()
        request.compare = compares.map(\.compare)
        request.success = success.map(\.request)
        request.failure = failure.map(\.request)
        return request
    }
}
