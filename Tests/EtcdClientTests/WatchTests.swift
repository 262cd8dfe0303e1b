import EtcdClient
import EtcdProto
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite struct WatchTests {
    @Test func deliversEventsInOrderWithPrevKV() async throws {
        try await withReferenceEtcd { _, client in
            let start = try await client.put("seed", "0").header.revision
            try await client.put("w/a", "1")
            try await client.put("w/a", "2")
            try await client.delete("w/a")
            var events: [Mvccpb_Event] = []
            for try await response in client.watch("w/", .prefix, .prevKV, .startRevision(start)) {
                events += response.events
                if events.count == 3 { break }
            }
            #expect(events.map(\.type) == [.put, .put, .delete])
            #expect(events.map { String($0.kv.value) } == ["1", "2", ""])
            #expect(events.map { String($0.prevKv.value) } == ["", "1", "2"])
            #expect(events.map(\.kv.modRevision) == [start + 1, start + 2, start + 3])
        }
    }

    @Test func compactedStartRevisionEndsTheWatchWithCompacted() async throws {
        try await withReferenceEtcd { _, client in
            let first = try await client.put("k", "1").header.revision
            let latest = try await client.put("k", "2").header.revision
            try await client.compact(latest)
            let error = await #expect(throws: EtcdError.self) {
                for try await _ in client.watch("k", .startRevision(first)) {}
            }
            #expect(error?.code == .compacted)
            #expect(error?.compactRevision == latest)
        }
    }

    /// The member is killed with SIGKILL and started again on the same port; the watch resumes from
    /// the revision after the last event it delivered: nothing lost, nothing repeated.
    @Test func resumesAcrossAKilledServer() async throws {
        var configuration = EtcdClient.Configuration()
        configuration.maxStreamRetryBackoff = .milliseconds(200)
        try await TemporaryDirectory.with(prefix: "watch-resume") { directory in
            var member = try await EtcdMember.start(in: directory)
            let client = try EtcdClient(endpoints: [member.clientEndpoint], configuration: configuration)
            let delivered = Mutex<[String]>([])
            let watcher = Task {
                for try await response in client.watch("r/", .prefix) {
                    delivered.withLock { $0 += response.events.map { String($0.kv.key) } }
                }
            }
            // The watch is created asynchronously: put until it has delivered something.
            var written: [String] = []
            while delivered.withLock({ $0.isEmpty }) {
                written.append("r/\(written.count + 10)")
                try await client.put(written.last!, "before")
                try await Task.sleep(for: .milliseconds(100))
            }
            try await waitUntil("the watch to catch up", timeout: .seconds(10)) {
                delivered.withLock { $0.last } == written.last
            }
            member.process.send(SIGKILL)
            await member.stop()
            member = try await member.restarted()
            // A write is never repeated by the client, so first let a read (which is) find the
            // restarted server; a put on the dead connection would fail, as it should.
            try await waitUntil("the client to reach the restarted server") { try await client.get("r/").header.revision > 0 }
            for i in 1...3 { try await client.put("r/after-\(i)", "after") }

            try await waitUntil("the resumed watch to deliver the puts after the restart", timeout: .seconds(20)) {
                delivered.withLock { $0.last } == "r/after-3"
            }
            let seen = delivered.withLock { $0 }
            let firstSeen = try #require(seen.first)
            let expected = written.filter { $0 >= firstSeen } + ["r/after-1", "r/after-2", "r/after-3"]
            #expect(seen == expected, "each event exactly once, in order")
            watcher.cancel()
            await client.close()
            await member.stop()
        }
    }
}
