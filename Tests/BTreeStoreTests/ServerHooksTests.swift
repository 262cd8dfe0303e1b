import Testing
@testable import BTreeStore

/// What the server relies on besides etcd's semantics: the history's byte count (quota and
/// database size), the per-entry change hook (the lessor's key tracking) and multi-key deletion
/// in one revision (lease revocation).
struct ServerHooksTests {
    static func cost(_ key: String, _ value: String) -> Int64 { StoreState.recordBytes(key: key.utf8.count, value: value.utf8.count) }

    @Test func historyBytesFollowWritesCompactionAndImport() throws {
        let store = MVCCStore()
        #expect(store.readView.historyBytes == 0)
        try MVCCTests.put(store, "a", "1111")
        try MVCCTests.put(store, "a", "22")
        try MVCCTests.put(store, "b", "3")
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("b")))
        let written = Self.cost("a", "1111") + Self.cost("a", "22") + Self.cost("b", "3") + Self.cost("b", "")
        #expect(store.readView.historyBytes == written)
        // Compaction keeps a's latest put and drops the rest (b's tombstone ends its history).
        try store.compact(store.currentRevision)
        #expect(store.readView.historyBytes == Self.cost("a", "22"))
        let imported = MVCCStore(importing: store.readView.export())
        #expect(imported.readView.historyBytes == store.readView.historyBytes)
    }

    @Test func entryAppliedSeesEachWritingEntryOnce() throws {
        let store = MVCCStore()
        var seen: [[String]] = []
        store.entryApplied = { events in seen.append(events.map { String(decoding: $0.kv.key, as: UTF8.self) }) }
        try MVCCTests.put(store, "a", "1")
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("missing")))
        _ = try store.txn(TxnRequest(success: [.put(PutRequest(key: bytes("b"), value: [])),
                                                .put(PutRequest(key: bytes("c"), value: []))]))
        #expect(seen == [["a"], ["b", "c"]])
    }

    @Test func deleteKeysIsOneRevision() throws {
        let store = MVCCStore()
        for key in ["a", "b", "c"] { try MVCCTests.put(store, key, "v") }
        let before = store.currentRevision
        #expect(store.deleteKeys([bytes("a"), bytes("c"), bytes("missing")]) == 2)
        #expect(store.currentRevision == before + 1)
        #expect(try MVCCTests.get(store, "a") == nil && MVCCTests.get(store, "b") != nil)
        #expect(store.deleteKeys([bytes("missing")]) == 0)
        #expect(store.currentRevision == before + 1)
    }
}
