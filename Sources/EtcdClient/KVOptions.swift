import EtcdProto
import Foundation

/// Which keys a request covers besides its key: etcd's `range_end`.
public enum KeyRange: Sendable {
    /// Every key starting with the key (etcdctl's `--prefix`).
    case prefix
    /// Every key at or after the key (etcdctl's `--from-key`; `range_end` = "\0").
    case fromKey
    /// Keys in [key, end).
    case until(any EtcdBytesConvertible)

    /// Sets `key` and `rangeEnd` as etcd's clients do: an empty key with `.prefix` or `.fromKey`
    /// becomes "\0", so that the range covers every key.
    func apply(to key: inout Data, rangeEnd: inout Data) {
        switch self {
        case .prefix:
            rangeEnd = prefixRangeEnd(key)
            if key.isEmpty { key = Data([0]) }
        case .fromKey:
            rangeEnd = Data([0])
            if key.isEmpty { key = Data([0]) }
        case .until(let end):
            rangeEnd = end.etcdBytes
        }
    }
}

/// An option of ``EtcdClient/get(_:_:)``, as clientv3's `OpOption`s for Get.
public enum GetOption: Sendable {
    /// Read a range of keys instead of one key.
    case range(KeyRange)
    /// Return at most this many keys (`more` tells whether there were others).
    case limit(Int64)
    /// Read at this revision instead of the newest.
    case revision(Int64)
    /// Order the keys.
    case sort(Etcdserverpb_RangeRequest.SortTarget, Etcdserverpb_RangeRequest.SortOrder)
    /// Answer from the member's local state without a quorum round (may be stale).
    case serializable
    /// Return keys without values.
    case keysOnly
    /// Return only the count.
    case countOnly
    /// Filters on a key's modification and creation revisions (0 = no filter).
    case minModRevision(Int64), maxModRevision(Int64), minCreateRevision(Int64), maxCreateRevision(Int64)

    /// Shorthand for `.range(.prefix)`.
    public static var prefix: GetOption { .range(.prefix) }
    /// Shorthand for `.range(.fromKey)`.
    public static var fromKey: GetOption { .range(.fromKey) }

    static func request(_ key: some EtcdBytesConvertible, _ options: [GetOption]) -> Etcdserverpb_RangeRequest {
        var request = Etcdserverpb_RangeRequest()
        request.key = key.etcdBytes
        for option in options {
            switch option {
            case .range(let range): range.apply(to: &request.key, rangeEnd: &request.rangeEnd)
            case .limit(let limit): request.limit = limit
            case .revision(let revision): request.revision = revision
            case .sort(let target, let order):
                request.sortTarget = target
                request.sortOrder = order
            case .serializable: request.serializable = true
            case .keysOnly: request.keysOnly = true
            case .countOnly: request.countOnly = true
            case .minModRevision(let revision): request.minModRevision = revision
            case .maxModRevision(let revision): request.maxModRevision = revision
            case .minCreateRevision(let revision): request.minCreateRevision = revision
            case .maxCreateRevision(let revision): request.maxCreateRevision = revision
            }
        }
        return request
    }
}

/// An option of ``EtcdClient/put(_:_:_:)``.
public enum PutOption: Sendable {
    /// Attach the key to a lease.
    case lease(Int64)
    /// Return the previous key-value pair.
    case prevKV
    /// Keep the current value (update the lease only); the value argument must be empty.
    case ignoreValue
    /// Keep the current lease.
    case ignoreLease

    static func request(
        _ key: some EtcdBytesConvertible, _ value: some EtcdBytesConvertible, _ options: [PutOption]
    ) -> Etcdserverpb_PutRequest {
        var request = Etcdserverpb_PutRequest()
        request.key = key.etcdBytes
        request.value = value.etcdBytes
        for option in options {
            switch option {
            case .lease(let id): request.lease = id
            case .prevKV: request.prevKv = true
            case .ignoreValue: request.ignoreValue = true
            case .ignoreLease: request.ignoreLease = true
            }
        }
        return request
    }
}

/// An option of ``EtcdClient/delete(_:_:)``.
public enum DeleteOption: Sendable {
    /// Delete a range of keys instead of one key.
    case range(KeyRange)
    /// Return the deleted key-value pairs.
    case prevKV

    /// Shorthand for `.range(.prefix)`.
    public static var prefix: DeleteOption { .range(.prefix) }
    /// Shorthand for `.range(.fromKey)`.
    public static var fromKey: DeleteOption { .range(.fromKey) }

    static func request(_ key: some EtcdBytesConvertible, _ options: [DeleteOption]) -> Etcdserverpb_DeleteRangeRequest {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = key.etcdBytes
        for option in options {
            switch option {
            case .range(let range): range.apply(to: &request.key, rangeEnd: &request.rangeEnd)
            case .prevKV: request.prevKv = true
            }
        }
        return request
    }
}
