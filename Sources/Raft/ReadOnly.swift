/// How the leader confirms a ReadIndex request.
public enum ReadOnlyOption: Sendable, Hashable {
    /// Confirm leadership with a round of heartbeats acknowledged by a quorum (linearizable always).
    case safe
    /// Trust the leader lease kept by check-quorum; cheaper, but linearizable only while clocks drift
    /// less than the election timeout. Requires check-quorum.
    case leaseBased
}

/// A read waiting for a quorum to confirm the leader's leadership.
struct ReadIndexStatus {
    /// The original request (local or forwarded), answered once confirmed.
    var request: Message
    /// The commit index when the request arrived: the read may be served once it is applied.
    var index: UInt64
    /// Who acknowledged the heartbeat carrying this request's context.
    var acks: [UInt64: Bool] = [:]
}

/// The queue of ReadIndex requests on a leader.
///
/// Each request sends heartbeats carrying its context. Requests are confirmed in order, and a
/// quorum's acknowledgement of a later request confirms all earlier ones too, since the heartbeat
/// was sent after them: under load many reads share one heartbeat round (batching).
struct ReadOnly {
    let option: ReadOnlyOption
    private var pending: [[UInt8]: ReadIndexStatus] = [:]
    private var queue: [[UInt8]] = []

    init(option: ReadOnlyOption) {
        self.option = option
    }

    /// Queues a request that arrived when the commit index was `index`; a duplicate context is ignored.
    mutating func addRequest(index: UInt64, request: Message) {
        let context = request.context
        guard pending[context] == nil else { return }
        pending[context] = ReadIndexStatus(request: request, index: index)
        queue.append(context)
    }

    /// Records `id`'s acknowledgement of the heartbeat with `context`; returns all acknowledgements so
    /// far, or nil for an unknown context.
    mutating func receiveAck(from id: UInt64, context: [UInt8]) -> [UInt64: Bool]? {
        guard pending[context] != nil else { return nil }
        pending[context]!.acks[id] = true
        return pending[context]!.acks
    }

    /// Removes and returns every request up to and including the one with `context`, now confirmed.
    mutating func advance(through context: [UInt8]) -> [ReadIndexStatus] {
        guard let position = queue.firstIndex(of: context) else { return [] }
        let confirmed = queue[...position].compactMap { pending.removeValue(forKey: $0) }
        queue.removeFirst(position + 1)
        return confirmed
    }

    /// The context of the newest pending request, carried by every heartbeat so that answers to it
    /// confirm everything queued.
    var lastPendingRequestContext: [UInt8] { queue.last ?? [] }

    var pendingCount: Int { queue.count }
}
