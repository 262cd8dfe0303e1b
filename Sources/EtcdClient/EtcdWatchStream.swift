import EtcdProto
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Many watches on one gRPC stream, as etcd's clientv3 keeps them: one stream for any number of
/// watches, and progress requests that every watch of the stream answers at once.
///
/// Each watch is an `AsyncThrowingStream` like ``EtcdClient/watch(_:_:)``'s, and survives its
/// server the same way: when the stream breaks, it is opened again on the next endpoint and every
/// live watch is created again from the revision after the last one it delivered. The client picks
/// the watch ids, so responses are routed without relying on the order of creation.
///
/// ```swift
/// let stream = client.makeWatchStream()
/// defer { stream.close() }
/// let jobs = stream.watch("jobs/", .prefix)
/// let nodes = stream.watch("nodes/", .prefix)
/// try stream.requestProgress()   // both get a response carrying the current revision
/// ```
///
/// Call ``close()`` when done: the stream stays open (with no watches, too) until then.
public final class EtcdWatchStream: Sendable {
    private struct Watcher {
        var create: Etcdserverpb_WatchCreateRequest
        /// Where a re-created watch starts; 0 ("now") until the server has confirmed the watch.
        var nextRevision: Int64
        let continuation: AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>.Continuation
    }

    private struct State {
        var watchers: [Int64: Watcher] = [:]
        var nextID: Int64 = 1
        /// The open stream's requests; nil while (re)connecting.
        var requests: AsyncStream<Etcdserverpb_WatchRequest>.Continuation?
        var runner: Task<Void, Never>?
        /// A progress request made while no stream was open, sent once one is.
        var progressRequested = false
        var closed = false
    }

    private let client: EtcdClient
    private let state = Mutex(State())

    init(client: EtcdClient) {
        self.client = client
    }

    /// Watches a key or a range on this stream; the options are ``EtcdClient/watch(_:_:)``'s.
    public func watch(_ key: some EtcdBytesConvertible, _ options: WatchOption...) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        watch(WatchOption.request(key, options))
    }

    /// Watches with a create request as given (its `watchID` is chosen by the stream).
    public func watch(_ create: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Etcdserverpb_WatchResponse.self)
        let id: Int64? = state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextID
            state.nextID += 1
            var request = create
            request.watchID = id
            state.watchers[id] = Watcher(create: request, nextRevision: create.startRevision, continuation: continuation)
            state.requests?.yield(.with { $0.createRequest = request })
            startIfNeeded(&state)
            return id
        }
        guard let id else {
            continuation.finish(throwing: EtcdClientError.closed)
            return stream
        }
        continuation.onTermination = { [weak self] _ in self?.cancel(id) }
        return stream
    }

    /// Asks the server for the current revision: every watch of the stream then gets a response
    /// without events whose header carries it (all earlier events were delivered).
    public func requestProgress() throws(EtcdClientError) {
        try state.withLock { (state: inout State) throws(EtcdClientError) in
            guard !state.closed else { throw .closed }
            if let requests = state.requests {
                requests.yield(.with { $0.progressRequest = Etcdserverpb_WatchProgressRequest() })
            } else {
                state.progressRequested = true
            }
            startIfNeeded(&state)
        }
    }

    /// Ends every watch of the stream (their sequences finish) and closes the stream.
    public func close() {
        let (watchers, runner) = state.withLock { state in
            state.closed = true
            state.requests?.finish()
            state.requests = nil
            defer { state.watchers = [:] }
            return (Array(state.watchers.values), state.runner)
        }
        for watcher in watchers { watcher.continuation.finish() }
        runner?.cancel()
    }

    // MARK: The stream

    private func startIfNeeded(_ state: inout State) {
        if state.runner == nil { state.runner = Task { await self.run() } }
    }

    private func cancel(_ id: Int64) {
        state.withLock { state in
            guard state.watchers.removeValue(forKey: id) != nil else { return }
            state.requests?.yield(.with { $0.cancelRequest.watchID = id })
        }
    }

    private func run() async {
        var backoff = StreamBackoff(maximum: client.configuration.maxStreamRetryBackoff)
        while !Task.isCancelled {
            let index: Int, connection: GRPCClient<HTTP2ClientTransport.Posix>
            do {
                guard try await client.authenticateBeforeStream() else {
                    try await backoff.wait()
                    continue
                }
                (index, connection) = try client.preferredConnection()
            } catch is CancellationError {
                return
            } catch {
                finishAll(throwing: error)
                return
            }
            let (requests, writer) = AsyncStream.makeStream(of: Etcdserverpb_WatchRequest.self)
            let opened = state.withLock { state in
                guard !state.closed else { return false }
                state.requests = writer
                for (_, watcher) in state.watchers.sorted(by: { $0.key < $1.key }) {
                    var request = watcher.create
                    request.startRevision = watcher.nextRevision
                    writer.yield(.with { $0.createRequest = request })
                }
                if state.progressRequested {
                    state.progressRequested = false
                    writer.yield(.with { $0.progressRequest = Etcdserverpb_WatchProgressRequest() })
                }
                return true
            }
            guard opened else { return }
            let delivered = Atomic<Bool>(false)
            do {
                try await Etcdserverpb_Watch.Client(wrapping: connection).watch(
                    metadata: client.metadata,
                    requestProducer: { stream in
                        for await request in requests { try await stream.write(request) }
                    },
                    onResponse: { response in
                        defer { writer.finish() }
                        for try await message in response.messages {
                            self.dispatch(message)
                            delivered.store(true, ordering: .relaxed)
                        }
                    })
                // The server ended the stream without an error (it is shutting down): go elsewhere.
            } catch {
                writer.finish()
                if Task.isCancelled { return }
                guard client.shouldReopenStream(after: error) else {
                    finishAll(throwing: (error as? RPCError).map(EtcdClient.translate) ?? error)
                    return
                }
            }
            state.withLock { $0.requests = nil }
            client.endpointFailed(index)
            if delivered.load(ordering: .relaxed) { backoff.reset() }
            do { try await backoff.wait() } catch { return }
        }
    }

    /// Routes one response to its watch (a progress response to all of them) and notes how far
    /// each watch has got.
    private func dispatch(_ message: Etcdserverpb_WatchResponse) {
        // A cancelled watch's sequence is finished outside the lock: finishing runs its
        // termination handler, which takes the lock.
        let cancelled = state.withLock { state -> Watcher? in
            if message.watchID == -1 && !message.created && !message.canceled {
                // Not taken as a resume point: etcd 3.4 answers a progress request with its
                // current revision even while a watch still catches up from history.
                for watcher in state.watchers.values { watcher.continuation.yield(message) }
                return nil
            }
            guard var watcher = state.watchers[message.watchID] else { return nil }
            if message.canceled {
                state.watchers[message.watchID] = nil
                return watcher
            }
            if let last = message.events.last {
                watcher.nextRevision = last.kv.modRevision + 1
            } else if message.created {
                if watcher.nextRevision == 0 { watcher.nextRevision = message.header.revision + 1 }
            } else {
                // The watch's own progress notification.
                watcher.nextRevision = max(watcher.nextRevision, message.header.revision + 1)
            }
            state.watchers[message.watchID] = watcher
            if !message.created { watcher.continuation.yield(message) }
            return nil
        }
        cancelled?.continuation.finish(throwing: EtcdClient.watchCancellation(message))
    }

    private func finishAll(throwing error: any Error) {
        let watchers = state.withLock { state in
            defer { state.watchers = [:] }
            state.requests = nil
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.continuation.finish(throwing: error) }
    }
}

extension EtcdClient {
    /// A stream for many watches at once, with progress requests; see ``EtcdWatchStream``.
    public func makeWatchStream() -> EtcdWatchStream {
        EtcdWatchStream(client: self)
    }
}

