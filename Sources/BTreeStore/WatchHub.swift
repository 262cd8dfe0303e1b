import Synchronization

/// Delivers the store's changes to watchers, etcd's `watchableStore` without its background loops.
///
/// A watcher is *synced* when it has everything up to the last published revision: the writer
/// then hands it new events directly, into a bounded buffer. A watcher that starts in the past,
/// or whose buffer would overflow, is *unsynced*: the writer skips it, and the watcher's consumer
/// catches up by reading the history from an immutable read view, on its own task, until it
/// reaches the latest revision and becomes synced again. The writer therefore never waits for a
/// consumer and never does catch-up work, and no event is dropped or delivered twice: a watcher's
/// `nextRevision` is the exact boundary between what it has and what it will read.
///
/// A consumer may wait with a `WatchSink`: the writer then hands the sink what it publishes for
/// that watcher, under the hub's lock and so in order with every other change of the watcher, and
/// the consumer is woken only for what the sink declines or for anything else (a cancel, a
/// progress request, falling behind).
///
/// - Complexity: publishing costs O(watchers × events) under the hub's lock (the writer's share of
///   the fan-out); a catch-up step reads O(history since the watcher's revision) on the
///   consumer's task.
package final class WatchHub: Sendable {
    /// Most events a synced watcher may have waiting before it falls back to catching up.
    package let bufferLimit: Int
    /// Most event bytes (keys and values) in one response before it is fragmented, for watchers
    /// that asked for fragments (etcd splits at its maximum request size).
    package let fragmentBytes: Int
    /// Most events read from the history in one catch-up step.
    package let catchUpBatch: Int

    struct WatcherState {
        var request: WatchRequest
        var end: RangeEnd
        var synced: Bool
        /// Unsynced: the first revision not yet delivered or buffered. Synced: a lower bound below
        /// which events are ignored (a start revision in the future).
        var nextRevision: Int64
        var buffer: [WatchResponse] = []
        var bufferedEvents = 0
        var waiter: Waiter?
        var canceled = false
        var progressRequested = false
    }

    /// A consumer waiting for its next response, and where it takes responses meanwhile.
    struct Waiter {
        let continuation: CheckedContinuation<WatchResponse?, Never>
        let sink: (any WatchSink)?
    }

    struct State {
        var view: ReadView
        var watchers: [Int64: WatcherState] = [:]
        var nextID: Int64 = 0
    }

    let state: Mutex<State>

    /// A hub over `view`'s history.
    package init(view: ReadView, bufferLimit: Int = 1024, fragmentBytes: Int = 1_572_864, catchUpBatch: Int = 1000) {
        state = Mutex(State(view: view))
        self.bufferLimit = bufferLimit
        self.fragmentBytes = fragmentBytes
        self.catchUpBatch = catchUpBatch
    }

    /// Starts a watcher. With a start revision in the past it first replays the history from there.
    package func watch(_ request: WatchRequest) -> Watcher {
        let id = state.withLock { state in
            let current = state.view.revision
            // etcd's rule: from the next write, or from a future revision, the watcher is synced.
            let synced = request.startRevision == 0 || request.startRevision > current
            let next = synced ? Swift.max(current + 1, request.startRevision) : request.startRevision
            let id = state.nextID
            state.nextID += 1
            state.watchers[id] = WatcherState(request: request, end: RangeEnd(request.rangeEnd),
                                              synced: synced, nextRevision: next)
            return id
        }
        return Watcher(id: id, hub: self)
    }

    /// Number of watchers, and how many of them are catching up.
    package var watcherCounts: (total: Int, unsynced: Int) {
        state.withLock { state in
            (state.watchers.count, state.watchers.values.count { !$0.synced })
        }
    }

    /// Sends a progress notification to every synced watcher that asked for them and has
    /// nothing waiting (etcd's periodic progress notify).
    package func notifyProgress() {
        var wake: [(CheckedContinuation<WatchResponse?, Never>, WatchResponse)] = []
        state.withLock { state in
            let progress = WatchResponse(revision: state.view.revision)
            for (id, watcher) in state.watchers
            where watcher.synced && watcher.request.progressNotify && watcher.buffer.isEmpty && !watcher.canceled {
                if let waiter = watcher.waiter {
                    state.watchers[id]?.waiter = nil
                    wake.append((waiter.continuation, progress))
                } else {
                    state.watchers[id]?.buffer.append(progress)
                }
            }
        }
        for (waiter, response) in wake { waiter.resume(returning: response) }
    }

    /// Called by the writer with the events of newly applied entries and the view that shows them.
    func publish(_ events: [Event], view: ReadView) {
        var wake: [(CheckedContinuation<WatchResponse?, Never>, WatchResponse?)] = []
        state.withLock { state in
            state.view = view
            guard !events.isEmpty else { return }
            var matches = SharedMatches(events)
            // Index-based and in place: neither the dictionary nor a watcher's state is copied.
            var index = state.watchers.values.startIndex
            while index != state.watchers.values.endIndex {
                defer { index = state.watchers.values.index(after: index) }
                if let woken = offer(&matches, to: &state.watchers.values[index], revision: view.revision) {
                    wake.append(woken)
                }
            }
        }
        for (waiter, response) in wake { waiter.resume(returning: response) }
    }

    /// Gives `watcher` its share of the events being published: hands it to its waiting consumer
    /// (returned, to be resumed outside the lock) or buffers it, or moves the watcher aside to
    /// catch up from the history when its buffer would overflow.
    private func offer(_ matches: inout SharedMatches, to watcher: inout WatcherState, revision: Int64)
        -> (CheckedContinuation<WatchResponse?, Never>, WatchResponse?)?
    {
        guard watcher.synced, !watcher.canceled else { return nil }
        let matched = matches.events(for: watcher)
        guard !matched.isEmpty else { return nil }
        if watcher.bufferedEvents + matched.count > bufferLimit {
            // Too much at once: stop feeding it; its consumer reads these from the history. A
            // consumer already waiting (one publication larger than the whole buffer, as when a
            // member that was cut off applies its backlog) is woken with nothing to look again:
            // left waiting, it would wait forever, since an unsynced watcher is never fed.
            watcher.synced = false
            watcher.nextRevision = matched[0].kv.modRevision
            if let waiter = watcher.waiter {
                watcher.waiter = nil
                return (waiter.continuation, nil)
            }
            return nil
        }
        let response = WatchResponse(revision: revision, events: matched)
        if let waiter = watcher.waiter {
            // Taken by the sink, the response is delivered and the consumer goes on waiting.
            if let sink = waiter.sink, sink.accept(response) { return nil }
            watcher.waiter = nil
            return (waiter.continuation, response)
        }
        watcher.buffer.append(response)
        watcher.bufferedEvents += matched.count
        return nil
    }

    /// The events of one publication matched per watcher, computed once per distinct request:
    /// watchers asking for the same thing share one array (and its buffer), which also lets the
    /// server encode those events once for all of them.
    struct SharedMatches {
        let published: [Event]
        private let firstRevision: Int64
        private var byShape: [MatchShape: [Event]] = [:]
        /// The last shape looked up: most watchers of one publication ask for the same thing, and
        /// comparing is cheaper than hashing.
        private var last: (shape: MatchShape, matched: [Event])?

        init(_ published: [Event]) {
            self.published = published
            firstRevision = published[0].kv.modRevision
        }

        mutating func events(for watcher: WatcherState) -> [Event] {
            // A watcher starting within these events gets its own cut.
            guard watcher.nextRevision <= firstRevision else { return WatchHub.matching(published, for: watcher) }
            if let last, last.shape.describes(watcher.request) { return last.matched }
            let shape = MatchShape(watcher.request)
            let matched: [Event]
            if let cached = byShape[shape] {
                matched = cached
            } else {
                matched = WatchHub.matching(published, for: watcher)
                byShape[shape] = matched
            }
            last = (shape, matched)
            return matched
        }
    }

    /// What decides which events a watcher gets, apart from its next revision.
    struct MatchShape: Hashable {
        var key: [UInt8]
        var rangeEnd: [UInt8]
        var noPut: Bool
        var noDelete: Bool
        var prevKV: Bool

        init(_ request: WatchRequest) {
            key = request.key
            rangeEnd = request.rangeEnd
            noPut = request.noPut
            noDelete = request.noDelete
            prevKV = request.prevKV
        }

        /// Whether `request` has this shape (without building one for it).
        func describes(_ request: WatchRequest) -> Bool {
            noPut == request.noPut && noDelete == request.noDelete && prevKV == request.prevKV
                && [UInt8].compare(key, request.key) == 0 && [UInt8].compare(rangeEnd, request.rangeEnd) == 0
        }
    }

    /// Takes a whole new state (a snapshot installed): no watcher can trust what it was fed from
    /// the old one, so each goes back to catching up from its next revision.
    func restore(view: ReadView) {
        var wake: [CheckedContinuation<WatchResponse?, Never>] = []
        state.withLock { state in
            state.view = view
            var index = state.watchers.values.startIndex
            while index != state.watchers.values.endIndex {
                defer { index = state.watchers.values.index(after: index) }
                state.watchers.values[index].synced = false
                if let waiter = state.watchers.values[index].waiter {
                    state.watchers.values[index].waiter = nil
                    wake.append(waiter.continuation)
                }
            }
        }
        for waiter in wake { waiter.resume(returning: nil) }
    }

    /// The events of `events` that `watcher` wants, shaped as it asked.
    static func matching(_ events: [Event], for watcher: WatcherState) -> [Event] {
        var matched: [Event] = []
        for event in events where event.kv.modRevision >= watcher.nextRevision {
            guard watcher.end.contains(event.kv.key, from: watcher.request.key) else { continue }
            if event.type == .put && watcher.request.noPut { continue }
            if event.type == .delete && watcher.request.noDelete { continue }
            var event = event
            if !watcher.request.prevKV { event.prevKV = nil }
            matched.append(event)
        }
        return matched
    }

    // MARK: Consumer side

    /// The next response of watcher `id`, waiting if there is none; nil once it is canceled.
    /// While it waits, `sink` takes what the writer publishes for it.
    func next(_ id: Int64, sink: (any WatchSink)?) async -> WatchResponse? {
        while true {
            enum Step {
                case deliver(WatchResponse?)
                case catchUp(view: ReadView, from: Int64)
                case wait
            }
            let step: Step = state.withLock { state in
                guard let watcher = state.watchers[id] else { return .deliver(nil) }
                if !watcher.buffer.isEmpty {
                    // In place, so the buffer is not copied.
                    let response = state.watchers[id]!.buffer.removeFirst()
                    state.watchers[id]!.bufferedEvents -= response.events.count
                    return .deliver(response)
                }
                if watcher.canceled {
                    state.watchers[id] = nil
                    return .deliver(nil)
                }
                if !watcher.synced { return .catchUp(view: state.view, from: watcher.nextRevision) }
                if watcher.progressRequested {
                    state.watchers[id]!.progressRequested = false
                    return .deliver(WatchResponse(revision: state.view.revision))
                }
                return .wait
            }
            switch step {
            case .deliver(let response):
                return response.map { fragmented($0, for: id) }
            case .catchUp(let view, let from):
                if let response = catchUp(id, view: view, from: from) { return fragmented(response, for: id) }
            case .wait:
                // Resumed with a response by the writer, or with nil to look again.
                let delivered: WatchResponse? = await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        guard let watcher = state.watchers[id] else { return true }
                        if !watcher.buffer.isEmpty || watcher.canceled || !watcher.synced || watcher.progressRequested {
                            return true
                        }
                        precondition(watcher.waiter == nil, "one consumer per watcher")
                        // Fragments are cut on the consumer's side, so a watcher asking for them has no sink.
                        let sink = watcher.request.fragment ? nil : sink
                        state.watchers[id]?.waiter = Waiter(continuation: continuation, sink: sink)
                        return false
                    }
                    if ready { continuation.resume(returning: nil) }
                }
                if let delivered { return fragmented(delivered, for: id) }
            }
        }
    }

    /// The first fragment of `response` if the watcher asked for fragments and it is too large;
    /// the rest goes back to the front of the watcher's buffer, to be delivered next.
    private func fragmented(_ response: WatchResponse, for id: Int64) -> WatchResponse {
        guard response.events.count > 1 else { return response }
        var size = 0
        var cut = response.events.count
        for (index, event) in response.events.enumerated() {
            size += event.payloadBytes
            if size > fragmentBytes {
                cut = Swift.max(1, index)
                break
            }
        }
        guard cut < response.events.count else { return response }
        return state.withLock { state -> WatchResponse in
            guard let watcher = state.watchers[id], watcher.request.fragment else { return response }
            var first = response
            first.events = Array(response.events[..<cut])
            first.fragment = true
            var rest = response
            rest.events = Array(response.events[cut...])
            state.watchers[id]?.buffer.insert(rest, at: 0)
            state.watchers[id]?.bufferedEvents += rest.events.count
            return first
        }
    }

    /// One catch-up step from `view`: the events from `from` on, at most `catchUpBatch` (whole
    /// revisions only). Marks the watcher synced when it reaches the latest published revision.
    private func catchUp(_ id: Int64, view: ReadView, from: Int64) -> WatchResponse? {
        if from < view.compactRevision {
            // etcd's rule (`chooseAll`): a watcher needing revisions below the compaction is canceled.
            state.withLock { state in state.watchers[id] = nil }
            return WatchResponse(revision: view.revision, compactRevision: view.compactRevision, canceled: true)
        }
        let request = state.withLock { $0.watchers[id]?.request }
        guard let request else { return nil }
        let end = RangeEnd(request.rangeEnd)
        var events: [Event] = []
        var reached = view.revision
        view.state.history.forEach(from: Revision(main: from), to: Revision(main: view.revision + 1)) { revision, record in
            if events.count >= catchUpBatch && revision.main != events.last?.kv.modRevision {
                reached = revision.main - 1
                return false
            }
            guard end.contains(record.key, from: request.key) else { return true }
            if record.isTombstone ? request.noDelete : request.noPut { return true }
            let kv = record.keyValue(at: revision) ?? KeyValue(key: record.key, modRevision: revision.main)
            var event = Event(type: record.isTombstone ? .delete : .put, kv: kv)
            if request.prevKV, record.previous != .none, let previous = view.state.history[record.previous] {
                event.prevKV = previous.keyValue(at: record.previous)
            }
            events.append(event)
            return true
        }
        let stillWatching = state.withLock { state -> Bool in
            guard state.watchers[id] != nil else { return false }
            // Never back: a start still in the future (a snapshot restore made a watcher resumed
            // on a lagging member catch up from a store behind it) stays its lower bound.
            state.watchers[id]?.nextRevision = Swift.max(from, reached + 1)
            if reached == state.view.revision { state.watchers[id]?.synced = true }
            return true
        }
        guard stillWatching, !events.isEmpty else { return nil }
        return WatchResponse(revision: view.revision, events: events)
    }

    /// Requests a progress notification for watcher `id` (etcd's `RequestProgress`): delivered once
    /// it is synced and has nothing waiting.
    func requestProgress(_ id: Int64) {
        let waiter = state.withLock { state -> CheckedContinuation<WatchResponse?, Never>? in
            guard state.watchers[id] != nil else { return nil }
            state.watchers[id]?.progressRequested = true
            let waiter = state.watchers[id]?.waiter
            state.watchers[id]?.waiter = nil
            return waiter?.continuation
        }
        // Woken with nothing, the consumer looks again and finds the request.
        waiter?.resume(returning: nil)
    }

    /// Cancels watcher `id`; its pending responses are still delivered, then `next` returns nil.
    func cancel(_ id: Int64) {
        let waiter = state.withLock { state -> CheckedContinuation<WatchResponse?, Never>? in
            guard state.watchers[id] != nil else { return nil }
            state.watchers[id]?.canceled = true
            let waiter = state.watchers[id]?.waiter
            state.watchers[id]?.waiter = nil
            return waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }
}
