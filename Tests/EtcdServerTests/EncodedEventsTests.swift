import BTreeStore
import EtcdProto
@testable import EtcdServer
import Foundation
import Testing

/// Watch responses carry events encoded once per published batch and appended to each watcher's
/// own fields: what a client decodes must be what encoding the whole response would give.
@Suite struct EncodedEventsTests {
    static func event(_ key: String, _ value: String, revision: Int64, previous: String? = nil) -> Event {
        let kv = KeyValue(key: Array(key.utf8), value: Array(value.utf8), createRevision: 2,
                          modRevision: revision, version: revision - 1)
        let prevKV = previous.map {
            KeyValue(key: Array(key.utf8), value: Array($0.utf8), createRevision: 2, modRevision: revision - 1,
                     version: revision - 2)
        }
        return Event(type: .put, kv: kv, prevKV: prevKV)
    }

    @Test func appendedEventsDecodeAsOneResponse() throws {
        let events = [Self.event("a", "1", revision: 5, previous: "0"), Self.event("b", "2", revision: 5)]
        var own = Etcdserverpb_WatchResponse()
        own.watchID = 7
        own.header.revision = 5
        own.fragment = true
        let encoded = EncodedEvents()
        var bytes: [UInt8] = try own.serializedBytes()
        bytes += try encoded.fields(of: events)
        let decoded = try Etcdserverpb_WatchResponse(serializedBytes: bytes)

        var whole = own
        whole.events = events.map(Mvccpb_Event.init)
        #expect(decoded == whole)
        #expect(decoded.events.count == 2 && decoded.events[0].prevKv.value == Data("0".utf8))
    }

    @Test func sharedArraysShareAnEncodingAndOthersGetTheirOwn() throws {
        let encoded = EncodedEvents()
        let first = [Self.event("k", "one", revision: 3)]
        let shared = first
        #expect(try encoded.fields(of: first) == encoded.fields(of: shared))
        // More distinct batches than the cache holds, each answered with its own events.
        for revision in Int64(4)..<40 {
            let batch = [Self.event("k", "v\(revision)", revision: revision)]
            let decoded = try Etcdserverpb_WatchResponse(serializedBytes: encoded.fields(of: batch))
            #expect(decoded.events.map(\.kv.value) == [Data("v\(revision)".utf8)])
        }
        let decoded = try Etcdserverpb_WatchResponse(serializedBytes: encoded.fields(of: first))
        #expect(decoded.events.map(\.kv.value) == [Data("one".utf8)])
        #expect(try encoded.fields(of: []).isEmpty)
        // A batch too large to keep is encoded each time, the same way.
        let large = (0..<100).map { Self.event("big\($0)", String(repeating: "x", count: 1000), revision: 50) }
        let once = try encoded.fields(of: large)
        #expect(once.count > 64 * 1024)
        #expect(try encoded.fields(of: large) == once)
        #expect(try Etcdserverpb_WatchResponse(serializedBytes: once).events.count == 100)
    }
}
