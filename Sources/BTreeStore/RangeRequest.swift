/// A read of one key or a key range at a revision: etcd's `RangeRequest`.
package struct RangeRequest: Hashable, Sendable {
    /// The order of the returned key-values.
    package enum SortOrder: Int, Sendable {
        /// Key order, unless `sortTarget` is not `.key` (then ascending).
        case none = 0
        /// Ascending by `sortTarget`.
        case ascend = 1
        /// Descending by `sortTarget`.
        case descend = 2
    }

    /// The field sorted by.
    package enum SortTarget: Int, Sendable {
        /// The key.
        case key = 0
        /// The version.
        case version = 1
        /// The create revision.
        case create = 2
        /// The mod revision.
        case mod = 3
        /// The value.
        case value = 4
    }

    /// The key, or the first key of the range.
    package var key: [UInt8]
    /// Empty: only `key`. `[0]`: every key `>= key`. Otherwise: keys in `[key, rangeEnd)`.
    package var rangeEnd: [UInt8] = []
    /// Most key-values returned; 0 for no limit.
    package var limit: Int64 = 0
    /// The revision read at; 0 or less for the current one.
    package var revision: Int64 = 0
    /// The order of the result.
    package var sortOrder: SortOrder = .none
    /// The field `sortOrder` applies to.
    package var sortTarget: SortTarget = .key
    /// Return keys without values.
    package var keysOnly = false
    /// Return only the count.
    package var countOnly = false
    /// Drop key-values modified before this revision (0: no filter).
    package var minModRevision: Int64 = 0
    /// Drop key-values modified after this revision (0: no filter).
    package var maxModRevision: Int64 = 0
    /// Drop key-values created before this revision (0: no filter).
    package var minCreateRevision: Int64 = 0
    /// Drop key-values created after this revision (0: no filter).
    package var maxCreateRevision: Int64 = 0

    /// A range request; the other fields take etcd's defaults.
    package init(key: [UInt8], rangeEnd: [UInt8] = [], limit: Int64 = 0, revision: Int64 = 0) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.limit = limit
        self.revision = revision
    }
}

/// The answer to a `RangeRequest`: etcd's `RangeResponse`.
package struct RangeResponse: Hashable, Sendable {
    /// The store's revision when the read was served (not the revision read at).
    package var revision: Int64
    /// The key-values, after filters, sort and limit.
    package var kvs: [KeyValue]
    /// Whether `limit` cut off key-values.
    package var more: Bool
    /// The number of keys in the range at the revision read, before filters and limit.
    package var count: Int64
}
