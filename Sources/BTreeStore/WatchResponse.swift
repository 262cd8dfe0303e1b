/// One message to a watcher: etcd's `WatchResponse`.
package struct WatchResponse: Hashable, Sendable {
    /// The store's revision when the response was made. For a progress notification: every event
    /// up to here has been delivered.
    package var revision: Int64
    /// Events in revision order; all events of one revision are in one response (or in one run of
    /// fragments).
    package var events: [Event] = []
    /// Set when the watcher was canceled because the revisions it needs are compacted.
    package var compactRevision: Int64 = 0
    /// Whether this is the watcher's last response.
    package var canceled = false
    /// More fragments of the same response follow.
    package var fragment = false

    /// Whether this is a progress notification (no events, not a cancellation).
    package var isProgressNotification: Bool { events.isEmpty && !canceled }
}
