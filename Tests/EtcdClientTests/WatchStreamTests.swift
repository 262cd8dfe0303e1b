import EtcdClient
import EtcdProto
import Foundation
import Synchronization
import Testing
import TestSupport

/// Several watches on one ``EtcdWatchStream``: routed by id, answered together by a progress
/// request, cancelled one at a time, and resumed together after the server is killed.
@Suite(.serialized) struct WatchStreamTests {
    /// The reference server's count of its watchers, from `/metrics`.
    static func watcherCount(_ member: EtcdMember) throws -> Int? {
        let metrics = try HTTPProbe.get(port: member.clientPort, path: "/metrics").body
        return metrics.split(separator: "\n").first { $0.hasPrefix("etcd_debugging_mvcc_watcher_total ") }
            .flatMap { Int($0.split(separator: " ").last!) }
    }

    @Test func watchesShareOneStreamAndAnswerProgressTogether() async throws {
        try await withReferenceEtcd { member, client in
            let stream = client.makeWatchStream()
            defer { stream.close() }
            let start = try await client.put("seed", "0").header.revision
            let letters = stream.watch("letters/", .prefix, .startRevision(start + 1))
            let numbers = stream.watch("numbers/", .prefix, .prevKV, .startRevision(start + 1))
            try await client.put("letters/a", "1")
            try await client.put("numbers/1", "one")
            try await client.put("numbers/1", "uno")
            let latest = try await client.put("letters/b", "2").header.revision

            var letterIterator = letters.makeAsyncIterator()
            var numberIterator = numbers.makeAsyncIterator()
            var letterEvents: [String] = [], numberEvents: [String] = []
            while letterEvents.count < 2, let response = try await letterIterator.next() {
                letterEvents += response.events.map { String($0.kv.key) + "=" + String($0.kv.value) }
            }
            while numberEvents.count < 2, let response = try await numberIterator.next() {
                numberEvents += response.events.map { String($0.prevKv.value) + "->" + String($0.kv.value) }
            }
            #expect(letterEvents == ["letters/a=1", "letters/b=2"])
            #expect(numberEvents == ["->one", "one->uno"])

            // One progress request: both watches get a response without events at the latest revision.
            try stream.requestProgress()
            let letterProgress = try #require(try await letterIterator.next())
            let numberProgress = try #require(try await numberIterator.next())
            for progress in [letterProgress, numberProgress] {
                #expect(progress.events.isEmpty && progress.watchID == -1)
                #expect(progress.header.revision == latest)
            }

            // Ending one watch cancels it on the server and leaves the others on the stream.
            let temporary = stream.watch("temporary")
            let consumer = Task { for try await _ in temporary {} }
            try await waitUntil("the server to hold three watchers") { try Self.watcherCount(member) == 3 }
            consumer.cancel()
            try await waitUntil("the server to hold two watchers") { try Self.watcherCount(member) == 2 }
            try await client.put("numbers/2", "two")
            let next = try #require(try await numberIterator.next())
            #expect(next.events.map { String($0.kv.key) } == ["numbers/2"])
        }
    }

    @Test func aCompactedStartEndsOnlyThatWatch() async throws {
        try await withReferenceEtcd { _, client in
            let stream = client.makeWatchStream()
            defer { stream.close() }
            let first = try await client.put("k", "1").header.revision
            let latest = try await client.put("k", "2").header.revision
            try await client.compact(latest)
            let live = stream.watch("k")
            let error = await #expect(throws: EtcdError.self) {
                for try await _ in stream.watch("k", .startRevision(first)) {}
            }
            #expect(error?.code == .compacted && error?.compactRevision == latest)
            try await client.put("k", "3")
            var iterator = live.makeAsyncIterator()
            let response = try #require(try await iterator.next())
            #expect(response.events.map { String($0.kv.value) } == ["3"])
        }
    }

    /// SIGKILL and restart of the member: both watches of the stream come back on a new stream
    /// from where each had got to; nothing is lost or repeated.
    @Test func watchesResumeTogetherAcrossAKilledServer() async throws {
        var configuration = EtcdClient.Configuration()
        configuration.maxStreamRetryBackoff = .milliseconds(200)
        try await TemporaryDirectory.with(prefix: "watch-stream-resume") { directory in
            var member = try await EtcdMember.start(in: directory)
            let client = try EtcdClient(endpoints: [member.clientEndpoint], configuration: configuration)
            let stream = client.makeWatchStream()
            let delivered = Delivered()
            let start = try await client.put("seed", "0").header.revision + 1
            let xs = stream.watch("x/", .prefix, .startRevision(start))
            let ys = stream.watch("y/", .prefix, .startRevision(start))
            let watcher = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for responses in [xs, ys] {
                        group.addTask {
                            for try await response in responses {
                                delivered.keys.withLock { $0 += response.events.map { String($0.kv.key) } }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            for i in 1...3 { try await client.put("x/before-\(i)", "v"); try await client.put("y/before-\(i)", "v") }
            try await waitUntil("both watches to deliver the first puts", timeout: .seconds(10)) {
                delivered.keys.withLock { $0.count } == 6
            }
            member.process.send(SIGKILL)
            await member.stop()
            member = try await member.restarted()
            try await waitUntil("the client to reach the restarted server") { try await client.get("x/").header.revision > 0 }
            for i in 1...2 { try await client.put("x/after-\(i)", "v"); try await client.put("y/after-\(i)", "v") }
            try await waitUntil("the resumed watches to deliver the later puts", timeout: .seconds(20)) {
                delivered.keys.withLock { $0.count } >= 10
            }
            try await Task.sleep(for: .milliseconds(300))
            let seen = delivered.keys.withLock { $0 }
            #expect(seen.filter { $0.hasPrefix("x/") } == ["x/before-1", "x/before-2", "x/before-3", "x/after-1", "x/after-2"])
            #expect(seen.filter { $0.hasPrefix("y/") } == ["y/before-1", "y/before-2", "y/before-3", "y/after-1", "y/after-2"])
            stream.close()
            _ = await watcher.result
            await client.close()
            await member.stop()
        }
    }
}

/// Keys delivered by watches running in child tasks.
private final class Delivered: Sendable {
    let keys = Mutex<[String]>([])
}
