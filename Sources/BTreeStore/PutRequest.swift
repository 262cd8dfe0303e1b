/// A write of one key: etcd's `PutRequest`.
package struct PutRequest: Hashable, Sendable {
    /// The key.
    package var key: [UInt8]
    /// The value.
    package var value: [UInt8]
    /// The lease to attach, 0 for none.
    package var lease: Int64 = 0
    /// Return the key-value as it was before.
    package var prevKV = false
    /// Keep the current value (the key must exist).
    package var ignoreValue = false
    /// Keep the current lease (the key must exist).
    package var ignoreLease = false

    /// A put; the flags take etcd's defaults.
    package init(key: [UInt8], value: [UInt8], lease: Int64 = 0, prevKV: Bool = false) {
        self.key = key
        self.value = value
        self.lease = lease
        self.prevKV = prevKV
    }
}

/// The answer to a `PutRequest`: etcd's `PutResponse`.
package struct PutResponse: Hashable, Sendable {
    /// The revision of the write.
    package var revision: Int64
    /// The previous key-value, when asked for and the key existed.
    package var prevKV: KeyValue?
}
