/// The index entry of one key: its latest revision and, inline, its latest state.
///
/// etcd's `keyIndex` keeps, per key, a list of generations, each a list of revisions from the
/// put that created the key to the tombstone that deleted it. We keep the same information split
/// in two places, which makes the common operations touch one tree:
///
/// - this entry holds the key's latest revision and the state written there (value, lease,
///   create revision, version), so a read at the current revision needs no second lookup;
/// - every revision of the key is a `RevisionRecord` in the history tree, and each record points
///   to the key's previous revision, so the chain of records walked backwards is etcd's list of
///   generations read from the end. A record with version 0 is a tombstone: it ends a generation,
///   and the record after it (a put with version 1) starts the next.
///
/// Keys whose latest revision is a put live in the store's `live` tree; keys whose latest revision
/// is a tombstone live in the `tombstoned` tree until compaction removes them. The `live` tree
/// therefore counts exactly the keys that exist now, which makes `count_only` O(log n).
///
/// Worked example (etcd's own): put(foo) at 1, put(foo) at 2, delete(foo) at 3, put(foo) at 4,
/// put(foo) at 5. The chain from the index entry is
///
///     entry: modification 5, createRevision 4, version 2
///     5.0 (v2, previous 4.0) -> 4.0 (v1, previous 3.0) -> 3.0 (tombstone, previous 2.0)
///         -> 2.0 (v2, previous 1.0) -> 1.0 (v1, previous none)
///
/// In etcd's terms: generations {1.0, 2.0, 3.0(t)} and {4.0, 5.0}. A read at revision 2 walks
/// 5 -> 4 -> 3 -> 2 and returns the put at 2; a read at 3 stops at the tombstone: no key.
///
/// Compaction at revision 4 keeps, for each key, the latest revision at or below 4 if it is a put
/// (4.0 here; every later read stops there or earlier) and deletes the rest at or below 4: 1.0,
/// 2.0 and 3.0. Compaction at 3 would delete 1.0, 2.0 and also 3.0, because a tombstone that is the
/// latest revision at or below the compaction point tells later reads nothing the missing record
/// does not: a walk that finds no previous record answers "no key". A key whose latest revision is
/// a tombstone at or below the compaction point leaves the index entirely.
struct KeyIndex: Sendable {
    /// The latest revision of the key: a put when the key is live, its tombstone otherwise.
    var modification: Revision
    /// The revision that created the current generation; 0 when tombstoned.
    var createRevision: Int64
    /// Modifications since creation; 0 when tombstoned.
    var version: Int64
    /// The lease attached by the latest put.
    var lease: Int64
    /// The value written by the latest put.
    var value: [UInt8]

    /// The key-value this entry describes; meaningful only for live keys.
    func keyValue(_ key: [UInt8]) -> KeyValue {
        KeyValue(key: key, value: value, createRevision: createRevision, modRevision: modification.main,
                 version: version, lease: lease)
    }
}
