import Dispatch
import Foundation
import Raft
import Synchronization

/// A front for a ``WriteAheadLog`` that many tasks append to concurrently, each learning when its
/// entries are durable.
///
/// One writer thread owns the log. Whatever arrived while it was busy with the previous `fdatasync`
/// becomes the next batch: one `pwrite` and one `fdatasync` for all of it (group commit). So the more
/// proposers wait, the more each sync carries, and throughput grows with concurrency instead of being
/// capped at the disk's sync rate.
///
/// A dedicated thread rather than a task: `fdatasync` blocks for milliseconds and must not occupy
/// one of the cooperative pool's few threads.
public final class GroupCommitLog: Sendable {
    private struct Pending {
        var entries: [Entry] = []
        var hardState: HardState?
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var nextIndex: UInt64
        var closed = false
        var failure: WALError?
        var syncCount = 0
    }

    /// Hands the log to the writer thread. `@unchecked Sendable` because the log is not thread-safe:
    /// after `init` stores it here, only the writer thread touches it, until `close` has joined that
    /// thread; no other access path exists.
    private final class WriterOwned: @unchecked Sendable {
        let log: WriteAheadLog
        init(_ log: WriteAheadLog) { self.log = log }
    }

    private let pending: Mutex<Pending>
    private let workAvailable = DispatchSemaphore(value: 0)
    private let writerFinished = DispatchSemaphore(value: 0)

    /// Starts the writer thread; `log` belongs to it from now on.
    public init(log: WriteAheadLog) {
        pending = Mutex(Pending(nextIndex: log.lastIndex + 1))
        let owned = WriterOwned(log)
        let thread = Thread { [self] in
            self.runWriter(owned.log)
        }
        thread.name = "wal-group-commit"
        thread.start()
    }

    /// Appends `entries` (indexes chosen by the caller, e.g. from a Raft Ready) and an optional hard
    /// state; returns once they are durable.
    public func append(_ entries: [Entry], hardState: HardState? = nil) async throws {
        try await enqueue { pending in
            pending.entries.append(contentsOf: entries)
            if let hardState { pending.hardState = hardState }
            if let last = entries.last { pending.nextIndex = last.index + 1 }
        }
    }

    /// Appends one entry at the next index (assigned in arrival order under the lock) and returns that
    /// index once the entry is durable.
    @discardableResult
    public func append(term: UInt64, data: [UInt8]) async throws -> UInt64 {
        var assigned: UInt64 = 0
        try await enqueue { pending in
            assigned = pending.nextIndex
            pending.entries.append(Entry(term: term, index: assigned, data: data))
            pending.nextIndex += 1
        }
        return assigned
    }

    /// How many `fdatasync` calls the writer made: with concurrent appenders, far fewer than appends.
    public var syncCount: Int { pending.withLock { $0.syncCount } }

    /// Stops the writer after it has written what is queued. Appends after this fail with
    /// ``WALError/closed``.
    public func close() {
        let alreadyClosed = pending.withLock { pending in
            defer { pending.closed = true }
            return pending.closed
        }
        guard !alreadyClosed else { return }
        workAvailable.signal()
        writerFinished.wait()
    }

    private func enqueue(_ add: (inout Pending) -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let refusal: WALError? = pending.withLock { pending in
                if pending.closed { return .closed }
                if let failure = pending.failure { return failure }
                add(&pending)
                pending.waiters.append(continuation)
                return nil
            }
            if let refusal {
                continuation.resume(throwing: refusal)
            } else {
                workAvailable.signal()
            }
        }
    }

    private func runWriter(_ log: WriteAheadLog) {
        while true {
            workAvailable.wait()
            let (entries, hardState, waiters, closed) = pending.withLock { pending in
                defer {
                    pending.entries = []
                    pending.hardState = nil
                    pending.waiters = []
                }
                return (pending.entries, pending.hardState, pending.waiters, pending.closed)
            }
            if !waiters.isEmpty {
                do {
                    try log.save(hardState: hardState, entries: entries, sync: true)
                    pending.withLock { $0.syncCount += 1 }
                    for waiter in waiters { waiter.resume() }
                } catch {
                    let failure = error as? WALError ?? .closed
                    pending.withLock { $0.failure = failure }
                    for waiter in waiters { waiter.resume(throwing: failure) }
                }
            }
            if closed { break }
        }
        writerFinished.signal()
    }
}
