import Synchronization
import Testing
@testable import BTreeStore

/// The watch hub against etcd's guarantees: ordered, unique, reliable, atomic, resumable, and
/// never blocking the writer.
struct WatchTests {
    static func put(_ store: MVCCStore, _ key: String, _ value: String = "v") throws {
        _ = try store.put(PutRequest(key: bytes(key), value: bytes(value)))
    }

    /// Reads responses until `count` events arrived (or the watch ended). A lost event would
    /// leave it waiting forever, so after `timeout` it cancels the watcher and returns what it got.
    static func events(_ watcher: Watcher, count: Int,
                       timeout: Duration = .seconds(30)) async -> (events: [Event], responses: [WatchResponse]) {
        let timer = Task {
            try await Task.sleep(for: timeout)
            watcher.cancel()
        }
        defer { timer.cancel() }
        var events: [Event] = []
        var responses: [WatchResponse] = []
        while events.count < count, let response = await watcher.next() {
            responses.append(response)
            events += response.events
            if response.canceled { break }
        }
        return (events, responses)
    }

    @Test func liveEventsWithPrevKVAndFilters() async throws {
        let store = MVCCStore()
        try Self.put(store, "a", "0")
        var request = WatchRequest(key: bytes("a"), rangeEnd: bytes("c"))
        request.prevKV = true
        let all = store.watchHub.watch(request)
        var noPutRequest = WatchRequest(key: bytes("a"), rangeEnd: bytes("c"))
        noPutRequest.noPut = true
        let deletesOnly = store.watchHub.watch(noPutRequest)
        var noDeleteRequest = WatchRequest(key: bytes("b"))
        noDeleteRequest.noDelete = true
        let putsOfB = store.watchHub.watch(noDeleteRequest)
        try Self.put(store, "a", "1")
        try Self.put(store, "b", "2")
        try Self.put(store, "c", "3")  // outside the range
        _ = try store.deleteRange(DeleteRangeRequest(key: bytes("a"), rangeEnd: bytes("z")))

        let (events, _) = await Self.events(all, count: 4)
        #expect(events.map(\.type) == [.put, .put, .delete, .delete])
        #expect(events.map(\.kv.modRevision) == [3, 4, 6, 6])
        #expect(events[0].prevKV?.value == bytes("0"))
        #expect(events[1].prevKV == nil)
        #expect(events[2].kv == KeyValue(key: bytes("a"), modRevision: 6))
        #expect(events[2].prevKV?.value == bytes("1"))
        let (deletes, _) = await Self.events(deletesOnly, count: 2)
        #expect(deletes.map(\.type) == [.delete, .delete] && deletes.allSatisfy { $0.prevKV == nil })
        let (puts, _) = await Self.events(putsOfB, count: 1)
        #expect(puts.map(\.kv.value) == [bytes("2")])
    }

    @Test func atomicRevisionsInOneResponse() async throws {
        let store = MVCCStore()
        let live = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        _ = try store.txn(TxnRequest(success: (0..<5).map { .put(PutRequest(key: bytes("k\($0)"), value: [])) }))
        let (_, responses) = await Self.events(live, count: 5)
        #expect(responses.count == 1 && responses[0].events.count == 5 && responses[0].revision == 2)
        // Catch-up batches end on revision boundaries too.
        for _ in 0..<10 {
            _ = try store.txn(TxnRequest(success: (0..<7).map { .put(PutRequest(key: bytes("k\($0)"), value: [])) }))
        }
        let hub = WatchHub(view: store.readViews.current(), catchUpBatch: 10)
        let replay = hub.watch(WatchRequest(key: [0], rangeEnd: [0], startRevision: 1))
        let (events, replayed) = await Self.events(replay, count: 75)
        #expect(events.count == 75)
        for response in replayed {
            let revisions = Set(response.events.map(\.kv.modRevision))
            #expect(response.events.count == revisions.reduce(0) { $0 + ($1 == 2 ? 5 : 7) })
        }
    }

    @Test func catchUpThenLiveIsOrderedAndUnique() async throws {
        let store = MVCCStore()
        for index in 0..<100 { try Self.put(store, "k\(index % 10)", "\(index)") }
        let watcher = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0], startRevision: 40))
        #expect(store.watchHub.watcherCounts.unsynced == 1)
        let (first, _) = await Self.events(watcher, count: 62)
        for index in 100..<150 { try Self.put(store, "k\(index % 10)", "\(index)") }
        let (second, _) = await Self.events(watcher, count: 50)
        #expect((first + second).map(\.kv.modRevision) == Array(40...151))
        #expect(store.watchHub.watcherCounts.unsynced == 0)
    }

    @Test func futureStartRevisionSkipsEarlierEvents() async throws {
        let store = MVCCStore()
        let watcher = store.watchHub.watch(WatchRequest(key: bytes("k"), startRevision: 3))
        for index in 0..<4 { try Self.put(store, "k", "\(index)") }
        let (events, _) = await Self.events(watcher, count: 2)
        #expect(events.map(\.kv.modRevision) == [3, 4])
    }

    /// A watcher resumed on a member that is behind (its start revision still in the future)
    /// keeps that start when the member installs a snapshot that is also behind it: it must not
    /// fall back to the snapshot's revision and deliver again what the client already has. (The
    /// long fault run found this: a resumed watch got ~14,000 events twice.)
    @Test func aFutureStartSurvivesASnapshotRestoreBehindIt() async throws {
        let leader = MVCCStore()
        for index in 0..<5 { try Self.put(leader, "k", "\(index)") }
        let behind = MVCCStore()
        try Self.put(behind, "k", "old")
        let watcher = behind.watchHub.watch(WatchRequest(key: bytes("k"), startRevision: 8))
        // The consumer waits for events, as a server's stream does.
        let received = Task { await Self.events(watcher, count: 3, timeout: .seconds(5)).events }
        try await Task.sleep(for: .milliseconds(100))
        // The leader's snapshot at revision 6, still before the watcher's start; the consumer
        // wakes and looks again while the store is behind.
        behind.restore(importing: leader.readView.export())
        try await Task.sleep(for: .milliseconds(100))
        for index in 5..<9 { try Self.put(behind, "k", "\(index)") }
        #expect(await received.value.map(\.kv.modRevision) == [8, 9, 10])
    }

    @Test func compactedStartRevisionCancels() async throws {
        let store = MVCCStore()
        for index in 0..<10 { try Self.put(store, "k", "\(index)") }
        try store.compact(5)
        let watcher = store.watchHub.watch(WatchRequest(key: bytes("k"), startRevision: 4))
        let response = await watcher.next()
        #expect(response?.canceled == true && response?.compactRevision == 5)
        #expect(await watcher.next() == nil)
        // etcd accepts a start at the compaction point itself.
        let atCompaction = store.watchHub.watch(WatchRequest(key: bytes("k"), startRevision: 5))
        #expect(await atCompaction.next()?.events.first?.kv.modRevision == 5)
    }

    @Test func slowWatcherNeverBlocksWriterAndLosesNothing() async throws {
        let store = MVCCStore(watchBufferLimit: 8)
        let slow = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        // The writer goes on while nobody reads.
        for index in 0..<2_000 { try Self.put(store, "k\(index % 50)", "\(index)") }
        #expect(store.watchHub.watcherCounts.unsynced == 1)
        let (events, _) = await Self.events(slow, count: 2_000)
        #expect(events.map(\.kv.modRevision) == Array(2...2_001))
        #expect(events.map(\.kv.value) == (0..<2_000).map { bytes("\($0)") })
        #expect(store.watchHub.watcherCounts.unsynced == 0)
        try Self.put(store, "after", "x")
        #expect(await slow.next()?.events.map(\.kv.modRevision) == [2_002])
    }

    /// A consumer already waiting when one publication brings more events than its whole buffer
    /// (a member that was cut off applying its backlog at once) catches up from the history. It
    /// once waited forever: the watcher was moved aside to catch up, but its consumer not woken.
    @Test func aWaitingWatcherGivenMoreThanItsBufferAtOnceCatchesUp() async throws {
        let store = MVCCStore(watchBufferLimit: 8)
        let watcher = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        let consumer = Task { await Self.events(watcher, count: 21, timeout: .seconds(10)) }
        while store.watchHub.state.withLock({ $0.watchers.values.first?.waiter == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        try store.batch { for index in 0..<20 { try Self.put(store, "k\(index)", "\(index)") } }
        try Self.put(store, "after", "x")
        let (events, _) = await consumer.value
        #expect(events.map(\.kv.modRevision) == Array(2...22))
        #expect(store.watchHub.watcherCounts.unsynced == 0)
    }

    /// A sink that takes responses until it has `capacity` of them, then declines.
    final class RecordingSink: WatchSink {
        let capacity: Int
        let taken = Mutex<[WatchResponse]>([])
        init(capacity: Int) { self.capacity = capacity }
        func accept(_ response: WatchResponse) -> Bool {
            taken.withLock { taken in
                guard taken.count < capacity else { return false }
                taken.append(response)
                return true
            }
        }
    }

    @Test func aSinkTakesWhatIsPublishedWhileItsConsumerWaitsAndTheConsumerGetsTheRest() async throws {
        let store = MVCCStore(watchBufferLimit: 8)
        let watcher = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        let sink = RecordingSink(capacity: 3)
        let consumer = Task { await watcher.next(sink: sink) }
        while store.watchHub.state.withLock({ $0.watchers.values.first?.waiter == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        // Three go to the sink with the consumer still waiting; the fourth, declined, wakes it.
        for index in 0..<4 { try Self.put(store, "k\(index)", "\(index)") }
        let woken = await consumer.value
        #expect(sink.taken.withLock { $0.flatMap(\.events).map(\.kv.modRevision) } == [2, 3, 4])
        #expect(woken?.events.map(\.kv.modRevision) == [5])
        // Nothing waits now: the next publication is buffered for the consumer, not sunk.
        try Self.put(store, "k4", "4")
        #expect(await watcher.next(sink: RecordingSink(capacity: 10))?.events.map(\.kv.modRevision) == [6])
        // A cancel wakes a consumer waiting with a sink; it ends the watch.
        let last = Task { await watcher.next(sink: sink) }
        while store.watchHub.state.withLock({ $0.watchers.values.first?.waiter == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        watcher.cancel()
        #expect(await last.value == nil)
    }

    @Test func aWatcherAskingForFragmentsGetsNoSink() async throws {
        let store = MVCCStore(watchFragmentBytes: 100)
        var request = WatchRequest(key: [0], rangeEnd: [0])
        request.fragment = true
        let watcher = store.watchHub.watch(request)
        let sink = RecordingSink(capacity: 10)
        let consumer = Task { await watcher.next(sink: sink) }
        while store.watchHub.state.withLock({ $0.watchers.values.first?.waiter == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let value = [UInt8](repeating: 1, count: 40)
        _ = try store.txn(TxnRequest(success: (0..<10).map { .put(PutRequest(key: bytes("k\($0)"), value: value)) }))
        let first = await consumer.value
        #expect(first?.fragment == true && sink.taken.withLock(\.isEmpty))
    }

    @Test func compactionRacingSlowWatcherCancelsIt() async throws {
        let store = MVCCStore(watchBufferLimit: 4)
        let slow = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        for index in 0..<100 { try Self.put(store, "k", "\(index)") }
        try store.compact(50)
        let (events, responses) = await Self.events(slow, count: 100)
        // What was buffered before it fell behind is delivered, then the cancellation.
        #expect(events.map(\.kv.modRevision) == (2...events.count + 1).map { Int64($0) })
        #expect(responses.last?.canceled == true && responses.last?.compactRevision == 50)
        #expect(await slow.next() == nil)
    }

    @Test func fragmentsSplitLargeResponses() async throws {
        let store = MVCCStore(watchFragmentBytes: 100)
        var request = WatchRequest(key: [0], rangeEnd: [0])
        request.fragment = true
        let watcher = store.watchHub.watch(request)
        let whole = store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0]))
        let value = [UInt8](repeating: 1, count: 40)
        _ = try store.txn(TxnRequest(success: (0..<10).map { .put(PutRequest(key: bytes("k\($0)"), value: value)) }))
        let (events, responses) = await Self.events(watcher, count: 10)
        #expect(events.count == 10 && responses.count > 1)
        #expect(responses.dropLast().allSatisfy(\.fragment) && responses.last?.fragment == false)
        let (_, unfragmented) = await Self.events(whole, count: 10)
        #expect(unfragmented.count == 1)
    }

    @Test func progressNotifications() async throws {
        let store = MVCCStore()
        try Self.put(store, "a")
        var request = WatchRequest(key: bytes("b"))
        request.progressNotify = true
        let watcher = store.watchHub.watch(request)
        watcher.requestProgress()
        let response = await watcher.next()
        #expect(response?.isProgressNotification == true && response?.revision == 2)
        try Self.put(store, "a")
        store.watchHub.notifyProgress()
        #expect(await watcher.next()?.revision == 3)
    }

    @Test func cancelEndsTheStream() async throws {
        let store = MVCCStore()
        let watcher = store.watchHub.watch(WatchRequest(key: bytes("a")))
        async let waited = watcher.next()
        try await Task.sleep(for: .milliseconds(20))
        watcher.cancel()
        #expect(await waited == nil)
    }

    @Test func concurrentConsumersSeeEveryRevisionOnce() async throws {
        let store = MVCCStore(watchBufferLimit: 16)
        let watchers = (0..<4).map { index in
            store.watchHub.watch(WatchRequest(key: [0], rangeEnd: [0], startRevision: Int64(index == 0 ? 0 : 1)))
        }
        try await withThrowingTaskGroup(of: [Int64].self) { group in
            for watcher in watchers {
                group.addTask { await Self.events(watcher, count: 3_000).events.map(\.kv.modRevision) }
            }
            for index in 0..<3_000 {
                try Self.put(store, "k\(index % 100)", "\(index)")
                if index % 100 == 0 { await Task.yield() }
            }
            for try await revisions in group {
                #expect(revisions == Array(2...3_001))
            }
        }
    }
}
