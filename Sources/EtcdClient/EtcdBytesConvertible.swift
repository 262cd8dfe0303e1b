import Foundation

/// Something that can be an etcd key or value: etcd keys and values are byte strings.
///
/// Strings are sent as their UTF-8 bytes, so `client.put("foo", "bar")` and
/// `client.put(Data("foo".utf8), Data("bar".utf8))` are the same request.
public protocol EtcdBytesConvertible: Sendable {
    /// The bytes sent on the wire.
    var etcdBytes: Data { get }
}

extension Data: EtcdBytesConvertible {
    public var etcdBytes: Data { self }
}

extension String: EtcdBytesConvertible {
    public var etcdBytes: Data { Data(utf8) }
}

extension Substring: EtcdBytesConvertible {
    public var etcdBytes: Data { Data(utf8) }
}

extension Array: EtcdBytesConvertible where Element == UInt8 {
    public var etcdBytes: Data { Data(self) }
}

/// The `range_end` that makes a range cover every key starting with `prefix`, as etcd's clients
/// compute it: the prefix with its last byte below 0xff incremented and what follows dropped;
/// `"\0"` (every key) when the prefix is empty or all 0xff.
public func prefixRangeEnd(_ prefix: Data) -> Data {
    var end = Array(prefix)
    while let last = end.last {
        if last < 0xff {
            end[end.count - 1] = last + 1
            return Data(end)
        }
        end.removeLast()
    }
    return Data([0])
}
