import BTreeStore
import EtcdProto
import GRPCCore
import LeanGRPC
import Synchronization

/// etcd's Watch service: one bidirectional stream carries many watches, each fed by the store's
/// watch hub: while its task waits, what is published goes from the hub straight to the stream,
/// and the task writes the rest (catching up, cancellation, progress). A watch's
/// `created` answer is written before its task starts, and its cancel answer after the task
/// ended, so they bracket its events; a slow client holds up only its own stream's writers (the
/// hub moves a watcher that falls behind to catching up from history).
struct WatchService {
    let core: ServerCore

    /// etcd's `clientv3.InvalidWatchID`: the id of answers that belong to no watch.
    static let invalidWatchID: Int64 = -1

    func watch(request: GRPCRequestStream<Etcdserverpb_WatchRequest>,
               response: GRPCResponseWriter<Etcdserverpb_WatchResponse>) async throws {
        let stream = WatchStream(core: core, response: response)
        defer { stream.cancelAll() }
        for try await message in request { try await stream.handle(message) }
        // etcd keeps serving a stream whose client stopped sending, until it goes away.
        try await Task.sleep(for: .seconds(Int64.max / 2))
    }
}

/// The watches of one stream.
private final class WatchStream: Sendable {
    let core: ServerCore
    let response: GRPCResponseWriter<Etcdserverpb_WatchResponse>
    private struct State {
        /// A reserved id maps to nil until its watcher runs.
        var watches: [Int64: (watcher: Watcher, task: Task<Void, Never>)?] = [:]
        var nextID: Int64 = 0
    }

    private let state = Mutex(State())

    init(core: ServerCore, response: GRPCResponseWriter<Etcdserverpb_WatchResponse>) {
        self.core = core
        self.response = response
    }

    func handle(_ message: Etcdserverpb_WatchRequest) async throws {
        switch message.requestUnion {
        case .createRequest(let create): try await self.create(create)
        case .cancelRequest(let cancel): try await self.cancel(cancel.watchID)
        case .progressRequest:
            var progress = Etcdserverpb_WatchResponse()
            progress.header = core.header(revision: core.readViews.current().revision)
            progress.watchID = WatchService.invalidWatchID
            try await response.write(progress)
        case nil:
            break
        }
    }

    private func create(_ create: Etcdserverpb_WatchCreateRequest) async throws {
        // etcd's normalisation: an empty key is the smallest key, "\0" as range end means "from key".
        let key = create.key.isEmpty ? [0] : [UInt8](create.key)
        let rangeEnd = [UInt8](create.rangeEnd)
        let revision = core.readViews.current().revision
        var answer = Etcdserverpb_WatchResponse()
        answer.header = core.header(revision: revision)
        answer.created = true
        if rangeEnd.count > 0 && !(rangeEnd.count == 1 && rangeEnd[0] == 0) && [UInt8].compare(key, rangeEnd) >= 0 {
            answer.watchID = WatchService.invalidWatchID
            answer.canceled = true
            answer.cancelReason = "mvcc: watcher range is empty"
            try await response.write(answer)
            return
        }
        // From the revision after the one this answer reports, even if a write lands before the
        // hub has the watcher (it then replays that write from the history).
        var watch = WatchRequest(key: key, rangeEnd: rangeEnd,
                                 startRevision: create.startRevision == 0 ? revision + 1 : create.startRevision)
        watch.noPut = create.filters.contains(.noput)
        watch.noDelete = create.filters.contains(.nodelete)
        watch.prevKV = create.prevKv
        watch.progressNotify = create.progressNotify
        watch.fragment = create.fragment
        // etcd's rule: 0 asks for the next free id; a taken id is refused.
        let id: Int64? = state.withLock { state in
            var id = create.watchID
            if id == 0 {
                while state.watches[state.nextID] != nil { state.nextID += 1 }
                id = state.nextID
                state.nextID += 1
            } else if state.watches[id] != nil {
                return nil
            }
            state.watches[id] = .some(nil)
            return id
        }
        guard let id else {
            answer.watchID = WatchService.invalidWatchID
            answer.canceled = true
            answer.cancelReason = "mvcc: duplicate watch ID provided on the WatchStream"
            try await response.write(answer)
            return
        }
        answer.watchID = id
        try await response.write(answer)
        let watcher = core.watchHub.watch(watch)
        let sink = WatchStreamSink(core: core, response: response, watchID: id)
        let task = Task {
            while !Task.isCancelled {
                let next = await withTaskCancellationHandler {
                    await watcher.next(sink: sink)
                } onCancel: {
                    watcher.cancel()
                }
                guard let next else { break }
                // A failed write means the stream is gone: the stream cancels this watch.
                do {
                    let (message, events) = try sink.message(for: next)
                    try await response.write(message, appending: events)
                } catch {
                    break
                }
                if next.canceled { break }
            }
        }
        state.withLock { $0.watches[id] = (watcher, task) }
    }

    private func cancel(_ id: Int64) async throws {
        guard let reserved = state.withLock({ $0.watches.removeValue(forKey: id) }), let watch = reserved else { return }
        watch.watcher.cancel()
        watch.task.cancel()
        // No event of this watch may follow its cancel answer.
        await watch.task.value
        var answer = Etcdserverpb_WatchResponse()
        answer.header = core.header(revision: core.readViews.current().revision)
        answer.watchID = id
        answer.canceled = true
        try await response.write(answer)
    }

    func cancelAll() {
        let all = state.withLock { state in
            defer { state.watches = [:] }
            return state.watches.values.compactMap { $0 }
        }
        for watch in all {
            watch.watcher.cancel()
            watch.task.cancel()
        }
    }
}

/// Writes one watch's responses to its stream straight from the hub while the watch's task waits
/// (see `WatchSink`), so a publication costs the stream's connection one event-loop task for all
/// its watches, and the watch's task no wake-up. What it declines (the stream has too much
/// unwritten) the task writes, waiting.
private struct WatchStreamSink: WatchSink {
    let core: ServerCore
    let response: GRPCResponseWriter<Etcdserverpb_WatchResponse>
    let watchID: Int64

    func accept(_ next: WatchResponse) -> Bool {
        // What the client will hold until it is written: keys and values, and a little for the rest.
        let bytes = next.events.reduce(64) { total, event in total + 32 + event.payloadBytes }
        return response.post(estimatedBytes: bytes) { [self] in try message(for: next) }
    }

    /// The response for `next`: its header and id, and its events encoded once for every watch
    /// that gets the same ones.
    func message(for next: WatchResponse) throws -> (response: Etcdserverpb_WatchResponse, appending: [UInt8]) {
        var message = Etcdserverpb_WatchResponse()
        message.header = core.header(revision: next.revision)
        message.watchID = watchID
        message.compactRevision = next.compactRevision
        message.canceled = next.canceled
        message.fragment = next.fragment
        return (message, try core.encodedWatchEvents.fields(of: next.events))
    }
}

/// The `events` field of watch responses, encoded once per published batch rather than once per
/// watcher: the hub hands every watcher with the same request the same events array, so a
/// thousand watchers of one key share one encoding.
///
/// An entry is recognised by its array's buffer. The entry holds the array, so that buffer can be
/// neither freed and reused for other events nor changed in place while the entry exists.
final class EncodedEvents: Sendable {
    private struct Entry {
        let events: [Event]
        let fields: [UInt8]
    }

    /// Enough for the distinct requests of one publication to share while it is being sent.
    private static let capacity = 8
    /// Larger encodings are not kept: they are rare (big transactions, catch-up batches), their
    /// cost is in their bytes anyway, and the cache must not pin much memory.
    private static let largestKeptBytes = 64 * 1024
    private let entries = Mutex<(list: [Entry], next: Int)>(([], 0))

    /// The encoded `events` field (field 11, repeated) of a WatchResponse carrying `events`.
    func fields(of events: [Event]) throws -> [UInt8] {
        guard !events.isEmpty else { return [] }
        let buffer = events.withUnsafeBufferPointer { $0.baseAddress }
        if let hit = entries.withLock({ entries in
            entries.list.first { entry in entry.events.withUnsafeBufferPointer { $0.baseAddress } == buffer }
        }) {
            return hit.fields
        }
        var carrier = Etcdserverpb_WatchResponse()
        carrier.events = events.map(Mvccpb_Event.init)
        let fields: [UInt8] = try carrier.serializedBytes()
        guard fields.count <= Self.largestKeptBytes else { return fields }
        entries.withLock { entries in
            let entry = Entry(events: events, fields: fields)
            if entries.list.count < Self.capacity {
                entries.list.append(entry)
            } else {
                entries.list[entries.next] = entry
                entries.next = (entries.next + 1) % Self.capacity
            }
        }
        return fields
    }
}
