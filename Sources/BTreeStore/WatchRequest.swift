/// What a watcher watches: etcd's `WatchCreateRequest`, minus the stream bookkeeping the server does.
package struct WatchRequest: Hashable, Sendable {
    /// The key, or the first key of the range.
    package var key: [UInt8]
    /// As in `RangeRequest.rangeEnd`.
    package var rangeEnd: [UInt8] = []
    /// The first revision to report; 0 for "from the next write".
    package var startRevision: Int64 = 0
    /// Leave out put events (etcd's NOPUT filter).
    package var noPut = false
    /// Leave out delete events (etcd's NODELETE filter).
    package var noDelete = false
    /// Attach the previous key-value to each event.
    package var prevKV = false
    /// Receive progress notifications from `WatchHub.notifyProgress()`.
    package var progressNotify = false
    /// Split responses larger than the hub's limit into fragments.
    package var fragment = false

    /// A watch request.
    package init(key: [UInt8], rangeEnd: [UInt8] = [], startRevision: Int64 = 0) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.startRevision = startRevision
    }
}
