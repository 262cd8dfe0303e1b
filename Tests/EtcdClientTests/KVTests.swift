import EtcdClient
import Foundation
import Testing
import TestSupport

@Suite struct KVTests {
    @Test func getOptionsShapeTheRange() async throws {
        try await withReferenceEtcd { _, client in
            for (key, value) in [("a/1", "x"), ("a/2", "yy"), ("a/3", "zzz"), ("b/1", "w")] {
                try await client.put(key, value)
            }
            let all = try await client.get("a/", .prefix)
            #expect(all.kvs.map { String($0.key) } == ["a/1", "a/2", "a/3"])
            #expect(all.count == 3)

            let limited = try await client.get("a/", .prefix, .limit(2))
            #expect(limited.kvs.count == 2 && limited.more && limited.count == 3)

            let descending = try await client.get("a/", .prefix, .sort(.value, .descend))
            #expect(descending.kvs.map { String($0.value) } == ["zzz", "yy", "x"])

            let keysOnly = try await client.get("a/", .prefix, .keysOnly)
            #expect(keysOnly.kvs.allSatisfy { $0.value.isEmpty } && keysOnly.kvs.count == 3)

            let counted = try await client.get("", .fromKey, .countOnly)
            #expect(counted.kvs.isEmpty && counted.count == 4)

            let between = try await client.get("a/2", .range(.until("b/")))
            #expect(between.kvs.map { String($0.key) } == ["a/2", "a/3"])

            // A read at the revision of the first put sees only that key.
            let firstRevision = all.kvs[0].modRevision
            let past = try await client.get("", .fromKey, .revision(firstRevision))
            #expect(past.kvs.map { String($0.key) } == ["a/1"])

            let deleted = try await client.delete("a/", .prefix, .prevKV)
            #expect(deleted.deleted == 3)
            #expect(deleted.prevKvs.map { String($0.value) } == ["x", "yy", "zzz"])
            #expect(try await client.get("a/", .prefix).count == 0)
        }
    }

    @Test func txnComparesAndBranches() async throws {
        try await withReferenceEtcd { _, client in
            try await client.put("config", "v1")
            let swap = Txn(if: [.value("config", .equal, "v1")], then: [.put("config", "v2")], else: [.get("config")])
            #expect(try await client.txn(swap).succeeded)
            let again = try await client.txn(swap)
            #expect(!again.succeeded)
            #expect(again.responses.first?.responseRange.kvs.first.map { String($0.value) } == "v2")

            // A comparison over a prefix holds only if it holds for every key in it.
            try await client.put("p/1", "a")
            try await client.put("p/2", "b")
            let overRange = Txn(if: [.version("p/", .greater, 0, range: .prefix)],
                                then: [.txn(Txn(then: [.put("nested", "yes")]))])
            #expect(try await client.txn(overRange).succeeded)
            #expect(try await client.get("nested").kvs.first.map { String($0.value) } == "yes")

            let duplicate = await #expect(throws: EtcdError.self) {
                try await client.txn(Txn(then: [.put("k", "1"), .put("k", "2")]))
            }
            #expect(duplicate?.code == .duplicateKey)
            #expect(duplicate?.message == "etcdserver: duplicate key given in txn request")
        }
    }

    @Test func etcdErrorsAreTyped() async throws {
        try await withReferenceEtcd { _, client in
            let put = try await client.put("k", "v")
            let future = await #expect(throws: EtcdError.self) {
                try await client.get("k", .revision(put.header.revision + 10))
            }
            #expect(future?.code == .futureRevision)
            #expect(future?.grpcCode == .outOfRange)

            try await client.put("k", "v2")
            try await client.compact(put.header.revision + 1)
            let compacted = await #expect(throws: EtcdError.self) {
                try await client.get("k", .revision(put.header.revision))
            }
            #expect(compacted?.code == .compacted)
            #expect(compacted?.description == "etcdserver: mvcc: required revision has been compacted")

            let emptyKey = await #expect(throws: EtcdError.self) { try await client.put("", "v") }
            #expect(emptyKey?.code == .emptyKey)
        }
    }

    @Test func prefixRangeEndFollowsEtcd() {
        #expect(prefixRangeEnd(Data("a/".utf8)) == Data("a0".utf8))
        #expect(prefixRangeEnd(Data([0x61, 0xff])) == Data([0x62]))
        #expect(prefixRangeEnd(Data([0xff, 0xff])) == Data([0]))
        #expect(prefixRangeEnd(Data()) == Data([0]))
    }

    @Test func endpointsParseLikeEtcdctl() throws {
        #expect(try Endpoint(parsing: "127.0.0.1:2379") == Endpoint(host: "127.0.0.1", port: 2379))
        #expect(try Endpoint(parsing: "http://localhost:2379/") == Endpoint(host: "localhost", port: 2379, scheme: .http))
        #expect(try Endpoint(parsing: "https://[::1]:2379") == Endpoint(host: "::1", port: 2379, scheme: .https))
        // clientv3's rule: https always uses TLS, http never, a bare address when TLS is configured.
        #expect(try Endpoint(parsing: "127.0.0.1:2379").usesTLS(hasTLSConfiguration: true))
        #expect(try !Endpoint(parsing: "127.0.0.1:2379").usesTLS(hasTLSConfiguration: false))
        #expect(try !Endpoint(parsing: "http://127.0.0.1:2379").usesTLS(hasTLSConfiguration: true))
        #expect(try Endpoint(parsing: "https://127.0.0.1:2379").usesTLS(hasTLSConfiguration: false))
        #expect(throws: EtcdClientError.self) { try Endpoint(parsing: "127.0.0.1") }
        #expect(throws: EtcdClientError.self) { try Endpoint(parsing: "unix://x:1") }
        #expect(throws: EtcdClientError.self) { try Endpoint(parsing: "host:99999") }
    }
}
