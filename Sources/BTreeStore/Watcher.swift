/// A consumer's handle on one watch. One task consumes it; dropping it cancels the watch.
package final class Watcher: Sendable {
    /// The hub's identifier of this watch.
    package let id: Int64
    private let hub: WatchHub

    init(id: Int64, hub: WatchHub) {
        self.id = id
        self.hub = hub
    }

    deinit {
        hub.cancel(id)
        hub.state.withLock { state in state.watchers[id] = nil }
    }

    /// The next response, waiting for one if needed; nil after cancellation once everything
    /// pending was delivered. A response with `canceled` set (compaction) is the last one.
    package func next() async -> WatchResponse? {
        await hub.next(id, sink: nil)
    }

    /// `next()`, with `sink` taking the responses published while this waits (see `WatchSink`).
    package func next(sink: any WatchSink) async -> WatchResponse? {
        await hub.next(id, sink: sink)
    }

    /// Asks for a progress notification, sent once the watcher has delivered everything up to
    /// the latest revision.
    package func requestProgress() {
        hub.requestProgress(id)
    }

    /// Stops the watch.
    package func cancel() {
        hub.cancel(id)
    }
}

/// Takes a watcher's responses straight from the writer while the watcher's consumer waits, so a
/// publication reaches an idle consumer's client without a task switch per watcher.
package protocol WatchSink: Sendable {
    /// Takes `response` if it can at once; false hands it to the waiting consumer instead.
    /// Called under the hub's lock, in the watcher's delivery order: it must be quick and must
    /// not call the hub.
    func accept(_ response: WatchResponse) -> Bool
}
