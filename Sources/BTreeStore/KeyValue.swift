/// A key with its value and metadata as of some revision: etcd's `mvccpb.KeyValue`.
package struct KeyValue: Hashable, Sendable {
    /// The key.
    package var key: [UInt8]
    /// The value; empty for a deletion and for `keys_only` reads.
    package var value: [UInt8]
    /// The revision that created the key in its current generation (since its last deletion).
    package var createRevision: Int64
    /// The revision of the key's last modification.
    package var modRevision: Int64
    /// Number of modifications since creation (1 after the first put); 0 for a deletion.
    package var version: Int64
    /// The lease attached to the key, 0 for none.
    package var lease: Int64

    /// A key-value.
    package init(key: [UInt8], value: [UInt8] = [], createRevision: Int64 = 0, modRevision: Int64 = 0,
                 version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}
