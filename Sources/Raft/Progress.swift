/// The leader's view of one follower's log.
///
/// A follower is in one of three states:
/// - **probe**: the leader does not know where the logs diverge; it sends one append per heartbeat
///   interval and waits for the answer before sending the next, back-tracking `next` on rejection.
/// - **replicate**: the logs match up to `match`; the leader streams appends optimistically
///   (advancing `next` as it sends), bounded by the in-flight window.
/// - **snapshot**: the follower needs entries the leader has compacted; the leader sends a snapshot
///   and waits for its outcome.
final class Progress {
    enum State: Sendable, Hashable, CustomStringConvertible {
        case probe, replicate, snapshot

        var description: String {
            switch self {
            case .probe: "StateProbe"
            case .replicate: "StateReplicate"
            case .snapshot: "StateSnapshot"
            }
        }
    }

    /// The highest index known to be replicated on the follower.
    var match: UInt64
    /// The index of the next entry to send.
    var next: UInt64
    var state: State = .probe
    /// In snapshot state: the index of the snapshot being sent.
    var pendingSnapshot: UInt64 = 0
    /// Whether the follower was heard from since the last check-quorum round.
    var recentActive = false
    /// In probe state: an append is outstanding, so wait for its answer (or a heartbeat response).
    var probeSent = false
    var inflights: Inflights
    var isLearner: Bool

    init(match: UInt64 = 0, next: UInt64, inflights: Inflights, isLearner: Bool = false) {
        self.match = match
        self.next = next
        self.inflights = inflights
        self.isLearner = isLearner
    }

    private func reset(to state: State) {
        probeSent = false
        pendingSnapshot = 0
        self.state = state
        inflights.reset()
    }

    func becomeProbe() {
        // After a snapshot, resume right after it, or after match if that is further.
        if state == .snapshot {
            let snapshotIndex = pendingSnapshot
            reset(to: .probe)
            next = max(match + 1, snapshotIndex + 1)
        } else {
            reset(to: .probe)
            next = match + 1
        }
    }

    func becomeReplicate() {
        reset(to: .replicate)
        next = match + 1
    }

    func becomeSnapshot(index: UInt64) {
        reset(to: .snapshot)
        pendingSnapshot = index
    }

    /// Records an acknowledgement of `index`; false if it is stale (already known).
    func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Advances `next` past entries just sent, before they are acknowledged (replicate state).
    func optimisticUpdate(_ index: UInt64) {
        next = index + 1
    }

    /// Handles a rejection of the append at `rejected`; `matchHint` is the leader's guess of the last
    /// shared index. False when the rejection is stale.
    func maybeDecrTo(rejected: UInt64, matchHint: UInt64) -> Bool {
        if state == .replicate {
            // A rejection at or below match answers an old message.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe state only the answer to the outstanding probe counts.
        if next - 1 != rejected { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        probeSent = false
        return true
    }

    /// Whether the leader should hold back appends to this follower.
    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }
}

extension Progress: CustomStringConvertible {
    var description: String {
        var text = "\(state) match=\(match) next=\(next)"
        if isLearner { text += " learner" }
        if probeSent { text += " paused" }
        if pendingSnapshot > 0 { text += " pendingSnap=\(pendingSnapshot)" }
        if !recentActive { text += " inactive" }
        if inflights.count > 0 { text += " inflight=\(inflights.count)" + (inflights.isFull ? "[full]" : "") }
        return text
    }
}
