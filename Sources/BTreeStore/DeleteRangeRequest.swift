/// A deletion of one key or a key range: etcd's `DeleteRangeRequest`.
package struct DeleteRangeRequest: Hashable, Sendable {
    /// The key, or the first key of the range.
    package var key: [UInt8]
    /// As in `RangeRequest.rangeEnd`.
    package var rangeEnd: [UInt8] = []
    /// Return the deleted key-values.
    package var prevKV = false

    /// A deletion.
    package init(key: [UInt8], rangeEnd: [UInt8] = [], prevKV: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.prevKV = prevKV
    }
}

/// The answer to a `DeleteRangeRequest`: etcd's `DeleteRangeResponse`.
package struct DeleteRangeResponse: Hashable, Sendable {
    /// The store's revision after the deletion (unchanged when nothing was deleted).
    package var revision: Int64
    /// The number of keys deleted.
    package var deleted: Int64
    /// The deleted key-values, when asked for.
    package var prevKVs: [KeyValue]
}
