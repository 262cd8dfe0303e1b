import Testing
@testable import BTreeStore

/// Bytes of a string, for readable keys and values.
func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

/// Each field and rule of etcd's MVCC semantics, one at a time.
struct MVCCTests {
    @discardableResult
    static func put(_ store: MVCCStore, _ key: String, _ value: String, lease: Int64 = 0) throws -> PutResponse {
        try store.put(PutRequest(key: bytes(key), value: bytes(value), lease: lease))
    }

    static func get(_ store: MVCCStore, _ key: String, revision: Int64 = 0) throws -> KeyValue? {
        try store.readViews.current().get(bytes(key), revision: revision)
    }

    @Test func revisionsVersionsAndCreateRevisions() throws {
        let store = MVCCStore()
        // As in etcd, an empty store is at revision 1.
        #expect(store.currentRevision == 1 && store.compactRevision == -1)
        #expect(try Self.put(store, "foo", "a").revision == 2)
        #expect(try Self.put(store, "bar", "b").revision == 3)
        #expect(try Self.put(store, "foo", "c", lease: 7).revision == 4)
        let foo = try #require(try Self.get(store, "foo"))
        #expect(foo == KeyValue(key: bytes("foo"), value: bytes("c"), createRevision: 2, modRevision: 4, version: 2, lease: 7))
        // Deleting ends the generation; the next put starts over at version 1.
        let deleted = try store.deleteRange(DeleteRangeRequest(key: bytes("foo"), prevKV: true))
        #expect(deleted.deleted == 1 && deleted.revision == 5 && deleted.prevKVs == [foo])
        #expect(try Self.get(store, "foo") == nil)
        try Self.put(store, "foo", "d")
        #expect(try Self.get(store, "foo") == KeyValue(key: bytes("foo"), value: bytes("d"), createRevision: 6, modRevision: 6, version: 1))
        // Reads at past revisions.
        #expect(try Self.get(store, "foo", revision: 2)?.value == bytes("a"))
        #expect(try Self.get(store, "foo", revision: 4)?.version == 2)
        #expect(try Self.get(store, "foo", revision: 5) == nil)
        #expect(try Self.get(store, "bar", revision: 2) == nil)
        // Deleting nothing does not advance the revision.
        #expect(try store.deleteRange(DeleteRangeRequest(key: bytes("zzz"))).revision == 6)
        #expect(store.currentRevision == 6)
    }

    @Test func futureAndCompactedRevisions() throws {
        let store = MVCCStore()
        for index in 0..<5 { try Self.put(store, "k", "\(index)") }
        #expect(throws: MVCCError.futureRevision) { try Self.get(store, "k", revision: 7) }
        try store.compact(4)
        #expect(throws: MVCCError.compacted) { try Self.get(store, "k", revision: 3) }
        #expect(try Self.get(store, "k", revision: 4)?.value == bytes("2"))
        #expect(throws: MVCCError.compacted) { try store.compact(4) }
        #expect(throws: MVCCError.futureRevision) { try store.compact(7) }
        #expect(MVCCError.compacted.message == "mvcc: required revision has been compacted")
        #expect(MVCCError.compacted.grpcMessage == "etcdserver: mvcc: required revision has been compacted")
        #expect(MVCCError.futureRevision.message == "mvcc: required revision is a future revision")
        #expect(MVCCError.duplicateKey.message == "etcdserver: duplicate key given in txn request")
    }

    @Test func rangeEndLimitMoreAndCount() throws {
        let store = MVCCStore()
        for key in ["a", "b", "c", "d", "e"] { try Self.put(store, key, key) }
        let view = store.readViews.current()
        func keys(_ response: RangeResponse) -> [String] { response.kvs.map { String(decoding: $0.key, as: UTF8.self) } }
        #expect(keys(try view.range(RangeRequest(key: bytes("b"), rangeEnd: bytes("d")))) == ["b", "c"])
        #expect(keys(try view.range(RangeRequest(key: bytes("c"), rangeEnd: [0]))) == ["c", "d", "e"])
        #expect(keys(try view.range(RangeRequest(key: [0], rangeEnd: [0]))).count == 5)
        #expect(keys(try view.range(RangeRequest(key: bytes("b")))) == ["b"])
        #expect(try view.range(RangeRequest(key: bytes("d"), rangeEnd: bytes("b"))).count == 0)
        let limited = try view.range(RangeRequest(key: [0], rangeEnd: [0], limit: 2))
        #expect(keys(limited) == ["a", "b"] && limited.more && limited.count == 5)
        let exact = try view.range(RangeRequest(key: [0], rangeEnd: [0], limit: 5))
        #expect(!exact.more && exact.kvs.count == 5)
        var countOnly = RangeRequest(key: bytes("b"), rangeEnd: [0])
        countOnly.countOnly = true
        let counted = try view.range(countOnly)
        #expect(counted.count == 4 && counted.kvs.isEmpty && counted.revision == 6)
        var keysOnly = RangeRequest(key: bytes("a"))
        keysOnly.keysOnly = true
        #expect(try view.range(keysOnly).kvs.first?.value == [])
        #expect(throws: MVCCError.emptyKey) { try view.range(RangeRequest(key: [])) }
    }

    @Test func sortOrderAndTargets() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "3")
        try Self.put(store, "b", "1")
        try Self.put(store, "c", "2")
        try Self.put(store, "b", "4")
        let view = store.readViews.current()
        func keys(_ order: RangeRequest.SortOrder, _ target: RangeRequest.SortTarget, limit: Int64 = 0) throws -> [String] {
            var request = RangeRequest(key: [0], rangeEnd: [0], limit: limit)
            request.sortOrder = order
            request.sortTarget = target
            return try view.range(request).kvs.map { String(decoding: $0.key, as: UTF8.self) }
        }
        #expect(try keys(.none, .key) == ["a", "b", "c"])
        #expect(try keys(.descend, .key) == ["c", "b", "a"])
        #expect(try keys(.descend, .key, limit: 2) == ["c", "b"])
        #expect(try keys(.ascend, .value) == ["c", "a", "b"])
        #expect(try keys(.none, .value) == ["c", "a", "b"])  // a target other than key sorts ascending
        #expect(try keys(.descend, .mod) == ["b", "c", "a"])
        #expect(try keys(.ascend, .create) == ["a", "b", "c"])
        #expect(try keys(.descend, .version) == ["b", "a", "c"])  // ties broken by key
        #expect(try keys(.descend, .create, limit: 1) == ["c"])
    }

    @Test func revisionFilters() throws {
        let store = MVCCStore()
        for key in ["a", "b", "c"] { try Self.put(store, key, "x") }  // created 2, 3, 4
        try Self.put(store, "a", "y")  // a modified at 5
        let view = store.readViews.current()
        func keys(_ configure: (inout RangeRequest) -> Void) throws -> [String] {
            var request = RangeRequest(key: [0], rangeEnd: [0])
            configure(&request)
            return try view.range(request).kvs.map { String(decoding: $0.key, as: UTF8.self) }
        }
        #expect(try keys { $0.minModRevision = 4 } == ["a", "c"])
        #expect(try keys { $0.maxModRevision = 4 } == ["b", "c"])
        #expect(try keys { $0.minCreateRevision = 3 } == ["b", "c"])
        #expect(try keys { $0.maxCreateRevision = 3 } == ["a", "b"])
        // Count is taken before filters, as in etcd; `more` after them.
        var request = RangeRequest(key: [0], rangeEnd: [0], limit: 1)
        request.minCreateRevision = 3
        let response = try view.range(request)
        #expect(response.count == 3 && response.kvs.count == 1 && response.more)
    }

    @Test func putFlags() throws {
        let store = MVCCStore()
        try Self.put(store, "k", "v1", lease: 5)
        var keepValue = PutRequest(key: bytes("k"), value: [], lease: 9, prevKV: true)
        keepValue.ignoreValue = true
        let response = try store.put(keepValue)
        #expect(response.prevKV?.value == bytes("v1") && response.revision == 3)
        #expect(try Self.get(store, "k") == KeyValue(key: bytes("k"), value: bytes("v1"), createRevision: 2, modRevision: 3, version: 2, lease: 9))
        var keepLease = PutRequest(key: bytes("k"), value: bytes("v3"))
        keepLease.ignoreLease = true
        _ = try store.put(keepLease)
        #expect(try Self.get(store, "k")?.lease == 9)
        var missing = PutRequest(key: bytes("absent"), value: [])
        missing.ignoreValue = true
        #expect(throws: MVCCError.keyNotFound) { try store.put(missing) }
        var both = PutRequest(key: bytes("k"), value: bytes("x"))
        both.ignoreValue = true
        #expect(throws: MVCCError.valueProvided) { try store.put(both) }
        var leaseGiven = PutRequest(key: bytes("k"), value: bytes("x"), lease: 3)
        leaseGiven.ignoreLease = true
        #expect(throws: MVCCError.leaseProvided) { try store.put(leaseGiven) }
        #expect(throws: MVCCError.emptyKey) { try store.put(PutRequest(key: [], value: [])) }
        store.leaseExists = { $0 == 9 }
        #expect(throws: MVCCError.leaseNotFound) { try store.put(PutRequest(key: bytes("k"), value: [], lease: 4)) }
        #expect(store.currentRevision == 4)
        #expect(try store.put(PutRequest(key: bytes("k"), value: [], prevKV: false)).prevKV == nil)
        _ = try store.put(PutRequest(key: bytes("leased"), value: [], lease: 9))
        #expect(store.readView.leasedKeys().map(\.key) == [bytes("leased")])
    }

    @Test func txnComparesAndBranches() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "1", lease: 3)
        try Self.put(store, "b", "2")
        func holds(_ compare: Compare) throws -> Bool {
            try store.readViews.current().txn(TxnRequest(compare: [compare])).succeeded
        }
        #expect(try holds(Compare(key: bytes("a"), target: .version(1), result: .equal)))
        #expect(try holds(Compare(key: bytes("a"), target: .createRevision(2), result: .equal)))
        #expect(try holds(Compare(key: bytes("b"), target: .modRevision(2), result: .greater)))
        #expect(try holds(Compare(key: bytes("a"), target: .value(bytes("2")), result: .less)))
        #expect(try holds(Compare(key: bytes("a"), target: .lease(3), result: .equal)))
        #expect(try holds(Compare(key: bytes("a"), target: .value(bytes("1")), result: .notEqual)) == false)
        // A missing key compares as zeros, except for its value, which never compares.
        #expect(try holds(Compare(key: bytes("zz"), target: .modRevision(0), result: .equal)))
        #expect(try holds(Compare(key: bytes("zz"), target: .value([]), result: .equal)) == false)
        // Over a range every key must hold.
        #expect(try holds(Compare(key: bytes("a"), rangeEnd: bytes("c"), target: .version(1), result: .equal)))
        #expect(try holds(Compare(key: bytes("a"), rangeEnd: bytes("c"), target: .modRevision(3), result: .less)) == false)

        // Writes share one revision; reads later in the txn see them.
        let response = try store.txn(TxnRequest(
            compare: [Compare(key: bytes("a"), target: .value(bytes("1")), result: .equal)],
            success: [
                .put(PutRequest(key: bytes("c"), value: bytes("3"))),
                .range(RangeRequest(key: bytes("c"))),
                .deleteRange(DeleteRangeRequest(key: bytes("b"), prevKV: true)),
                .put(PutRequest(key: bytes("d"), value: bytes("4"))),
            ],
            failure: [.put(PutRequest(key: bytes("x"), value: []))]))
        #expect(response.succeeded && response.revision == 4)
        guard case .range(let read) = response.responses[1] else { Issue.record("expected a range"); return }
        #expect(read.kvs.first?.value == bytes("3") && read.revision == 4)
        guard case .deleteRange(let deleted) = response.responses[2] else { Issue.record("expected a delete"); return }
        #expect(deleted.deleted == 1 && deleted.revision == 4 && deleted.prevKVs.first?.value == bytes("2"))
        #expect(try Self.get(store, "d")?.modRevision == 4)
        #expect(store.readView.state.history[Revision(main: 4, sub: 2)]?.key == bytes("d"))

        // Failure branch; a txn that writes nothing keeps the revision.
        let failed = try store.txn(TxnRequest(
            compare: [Compare(key: bytes("a"), target: .version(5), result: .equal)],
            failure: [.range(RangeRequest(key: bytes("a")))]))
        #expect(!failed.succeeded && failed.revision == 4)
    }

    @Test func nestedTxnSeesPreTxnStateInCompares() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "1")
        let response = try store.txn(TxnRequest(success: [
            .put(PutRequest(key: bytes("a"), value: bytes("2"))),
            .txn(TxnRequest(
                compare: [Compare(key: bytes("a"), target: .value(bytes("1")), result: .equal)],
                success: [.put(PutRequest(key: bytes("b"), value: bytes("nested"))), .range(RangeRequest(key: bytes("a")))])),
        ]))
        guard case .txn(let nested) = response.responses[1], case .range(let read) = nested.responses[1] else {
            Issue.record("expected nested responses"); return
        }
        #expect(nested.succeeded && nested.revision == 0)
        #expect(read.kvs.first?.value == bytes("2"))
        #expect(try Self.get(store, "b")?.modRevision == 3)
    }

    @Test func txnValidationErrors() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "1")
        let put = RequestOp.put(PutRequest(key: bytes("a"), value: []))
        #expect(throws: MVCCError.duplicateKey) { try store.txn(TxnRequest(success: [put, put])) }
        #expect(throws: MVCCError.duplicateKey) {
            try store.txn(TxnRequest(success: [put, .deleteRange(DeleteRangeRequest(key: bytes("a")))]))
        }
        #expect(throws: MVCCError.duplicateKey) {
            try store.txn(TxnRequest(success: [.deleteRange(DeleteRangeRequest(key: bytes("a"), rangeEnd: bytes("b"))),
                                               .txn(TxnRequest(success: [put]))]))
        }
        // The same key in both branches of a nested txn is fine: only one runs.
        _ = try store.txn(TxnRequest(success: [.txn(TxnRequest(success: [put], failure: [put]))]))
        #expect(throws: MVCCError.tooManyOperations) {
            try store.txn(TxnRequest(success: Array(repeating: .range(RangeRequest(key: bytes("a"))), count: 129)))
        }
        #expect(throws: MVCCError.emptyKey) {
            try store.txn(TxnRequest(compare: [Compare(key: [], target: .version(0), result: .equal)]))
        }
        #expect(throws: MVCCError.futureRevision) {
            try store.txn(TxnRequest(success: [.range(RangeRequest(key: bytes("a"), revision: 99))]))
        }
        var keepValue = PutRequest(key: bytes("missing"), value: [])
        keepValue.ignoreValue = true
        #expect(throws: MVCCError.keyNotFound) { try store.txn(TxnRequest(success: [.put(keepValue)])) }
        #expect(store.currentRevision == 3)
    }

    @Test func compactionRemovesOnlyUnreachableRecords() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "1")                                       // 2
        try Self.put(store, "a", "2")                                       // 3
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("a")))      // 4
        try Self.put(store, "a", "4")                                       // 5
        try Self.put(store, "b", "5")                                       // 6
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("b")))      // 7
        try Self.put(store, "c", "7")                                       // 8
        let before = store.readView
        try store.compact(7)
        let history = store.readView.state.history
        var kept: [Int64] = []
        history.forEach { revision, _ in kept.append(revision.main); return true }
        #expect(kept == [5, 8])
        #expect(store.readView.state.tombstoned.isEmpty)
        for revision in Int64(7)...8 {
            for key in ["a", "b", "c"] {
                #expect(try Self.get(store, key, revision: revision) == (try before.get(bytes(key), revision: revision)))
            }
        }
        // A read view taken before compaction still reads the old history.
        #expect(try before.get(bytes("a"), revision: 2)?.value == bytes("1"))
    }

    @Test func hashesAgreeAcrossReplicasAndSnapshots() throws {
        func build() throws -> MVCCStore {
            let store = MVCCStore()
            for index in 0..<50 { try Self.put(store, "k\(index % 7)", "v\(index)", lease: Int64(index % 3)) }
            _ = try store.deleteRange(DeleteRangeRequest(key: bytes("k2"), rangeEnd: bytes("k4")))
            try store.compact(30)
            try Self.put(store, "k9", "late")
            return store
        }
        let first = try build(), second = try build()
        let view = first.readViews.current()
        #expect(try view.hashKV(revision: 0).hash == second.readViews.current().hashKV(revision: 0).hash)
        #expect(try view.hashKV(revision: 40).hash == second.readViews.current().hashKV(revision: 40).hash)
        #expect(view.hash() == second.readViews.current().hash())
        #expect(throws: MVCCError.compacted) { try view.hashKV(revision: 30) }
        let restored = MVCCStore(importing: view.export())
        let restoredView = restored.readViews.current()
        #expect(restoredView.export() == view.export())
        #expect(try restoredView.hashKV(revision: 0).hash == view.hashKV(revision: 0).hash)
        #expect(restored.currentRevision == first.currentRevision && restored.compactRevision == 30)
        try Self.put(first, "k1", "again")
        try Self.put(restored, "k1", "again")
        #expect(try Self.get(first, "k1") == Self.get(restored, "k1"))
        #expect(try first.readViews.current().hashKV(revision: 0).hash != view.hashKV(revision: 0).hash)
    }

    @Test func hashKVMatchesEtcdEncoding() throws {
        let record = RevisionRecord(key: bytes("foo"), value: bytes("bar"), createRevision: 2, version: 1, lease: 0, previous: .none)
        #expect(record.storedBytes(at: Revision(main: 2)) == [0x0A, 3, 0x66, 0x6F, 0x6F, 0x10, 2, 0x18, 2, 0x20, 1, 0x2A, 3, 0x62, 0x61, 0x72])
        #expect(Revision(main: 2, sub: 1).bytes(tombstone: true) == [0, 0, 0, 0, 0, 0, 0, 2, 0x5F, 0, 0, 0, 0, 0, 0, 0, 1, 0x74])
    }

    @Test func batchPublishesOnceAndReadViewsAreStable() throws {
        let store = MVCCStore()
        try Self.put(store, "a", "1")
        let before = store.readViews.current()
        try store.batch {
            try Self.put(store, "a", "2")
            try Self.put(store, "b", "3")
            #expect(store.readViews.current().revision == 2)
        }
        #expect(store.readViews.current().revision == 4)
        #expect(try before.get(bytes("a"))?.value == bytes("1"))
        #expect(try before.get(bytes("b")) == nil)
    }
}

/// Hashes checked against a real etcd 3.4.23: the same commands were run with etcdctl
/// (`put a 1`, `put b 2`, `put a 3`, `del b`, `put c 4`, `put foo bar`, a txn putting x and y,
/// then `compaction 5`), and `endpoint hashkv` printed these values.
struct EtcdHashCompatibilityTests {
    @Test func hashKVEqualsEtcd() throws {
        let store = MVCCStore()
        #expect(try store.readView.hashKV(revision: 0).hash == 1_084_519_789)
        for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
            _ = try store.put(PutRequest(key: bytes(key), value: bytes(value)))
        }
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("b")))
        _ = try store.put(PutRequest(key: bytes("c"), value: bytes("4")))
        _ = try store.put(PutRequest(key: bytes("foo"), value: bytes("bar")))
        _ = try store.txn(TxnRequest(success: [.put(PutRequest(key: bytes("x"), value: bytes("1"))),
                                               .put(PutRequest(key: bytes("y"), value: bytes("2")))]))
        #expect(store.currentRevision == 8)
        #expect(try store.readView.hashKV(revision: 0).hash == 2_385_881_019)
        #expect(try store.readView.hashKV(revision: 4).hash == 2_069_675_932)
        try store.compact(5)
        let afterCompaction = try store.readView.hashKV(revision: 0)
        #expect(afterCompaction.hash == 804_238_150 && afterCompaction.compactRevision == 5)
        #expect(try store.readView.hashKV(revision: 7).hash == 3_601_571_874)
        #expect(try store.readView.get(bytes("a")) == KeyValue(key: bytes("a"), value: bytes("3"), createRevision: 2, modRevision: 4, version: 2))
    }
}

/// Readers on other threads against a busy writer.
struct ReadViewConcurrencyTests {
    /// Each entry writes `a` and `b` with the same value; a reader must never see them differ, and
    /// the revisions it sees never go back.
    @Test func readersNeverSeeHalfAppliedEntriesOrBatches() async throws {
        let store = MVCCStore()
        let source = store.readViews
        try await withThrowingTaskGroup(of: Int.self) { group in
            // One reader, which yields: the cooperative pool may have only two threads, and a reader
            // spinning on each would starve the writer.
            for _ in 0..<1 {
                group.addTask {
                    var observed = 0
                    var lastRevision: Int64 = 0
                    while lastRevision < 3_001 {
                        let view = source.current()
                        let a = try view.get(bytes("a"))?.value
                        let b = try view.get(bytes("b"))?.value
                        #expect(a == b, "torn read at revision \(view.revision)")
                        #expect(view.revision >= lastRevision)
                        lastRevision = view.revision
                        observed += 1
                        await Task.yield()
                    }
                    return observed
                }
            }
            for index in 0..<1_000 {
                let value = bytes("\(index)")
                _ = try store.txn(TxnRequest(success: [.put(PutRequest(key: bytes("a"), value: value)),
                                                       .put(PutRequest(key: bytes("b"), value: value))]))
                // Two entries in one batch: readers see both or neither.
                try store.batch {
                    _ = try store.put(PutRequest(key: bytes("a"), value: value + [1]))
                    _ = try store.put(PutRequest(key: bytes("b"), value: value + [1]))
                }
                if index % 50 == 0 { await Task.yield() }
            }
            for try await observed in group { #expect(observed > 0) }
        }
    }
}
