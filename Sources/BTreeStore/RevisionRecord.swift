/// One revision of one key in the history tree (etcd's backend `key` bucket entry).
struct RevisionRecord: Sendable {
    /// The key written.
    var key: [UInt8]
    /// The value written; empty for a tombstone.
    var value: [UInt8]
    /// The create revision of the key's generation; 0 for a tombstone.
    var createRevision: Int64
    /// The key's version after this write; 0 marks a tombstone.
    var version: Int64
    /// The lease attached.
    var lease: Int64
    /// The key's previous revision, `.none` for its first one.
    var previous: Revision

    /// Whether this revision deleted the key.
    var isTombstone: Bool { version == 0 }

    /// The key-value as of this revision, nil for a tombstone.
    func keyValue(at revision: Revision) -> KeyValue? {
        isTombstone ? nil : KeyValue(key: key, value: value, createRevision: createRevision,
                                     modRevision: revision.main, version: version, lease: lease)
    }
}
