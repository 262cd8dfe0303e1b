import EtcdProto
import Foundation
import GRPCCore
import Synchronization

/// An option of ``EtcdClient/watch(_:_:)``.
public enum WatchOption: Sendable {
    /// Watch a range of keys instead of one key.
    case range(KeyRange)
    /// Start at this revision (events from history first); without it, the watch starts now.
    case startRevision(Int64)
    /// Include the previous key-value pair in events.
    case prevKV
    /// Leave out put events.
    case noPut
    /// Leave out delete events.
    case noDelete
    /// Ask for periodic progress notifications (responses without events carrying the revision).
    case progressNotify
    /// Let the server split large revisions over several responses.
    case fragment

    /// Shorthand for `.range(.prefix)`.
    public static var prefix: WatchOption { .range(.prefix) }

    static func request(_ key: some EtcdBytesConvertible, _ options: [WatchOption]) -> Etcdserverpb_WatchCreateRequest {
        var request = Etcdserverpb_WatchCreateRequest()
        request.key = key.etcdBytes
        for option in options {
            switch option {
            case .range(let range): range.apply(to: &request.key, rangeEnd: &request.rangeEnd)
            case .startRevision(let revision): request.startRevision = revision
            case .prevKV: request.prevKv = true
            case .noPut: request.filters.append(.noput)
            case .noDelete: request.filters.append(.nodelete)
            case .progressNotify: request.progressNotify = true
            case .fragment: request.fragment = true
            }
        }
        return request
    }
}

extension EtcdClient {
    /// Watches a key or a range: every change, in revision order, as responses carrying events.
    ///
    /// The sequence survives its server: when the stream breaks (the member died, the connection
    /// dropped), the watch is created again on the next endpoint from the revision after the last one
    /// delivered, so no event is lost or repeated. It ends with an ``EtcdError`` whose code is
    /// `.compacted` (and `compactRevision` set) when the revision it needs was compacted, and when the
    /// task iterating it is cancelled.
    ///
    /// ```swift
    /// for try await response in client.watch("jobs/", .prefix, .prevKV) {
    ///     for event in response.events { print(event.type, event.kv.key) }
    /// }
    /// ```
    public func watch(_ key: some EtcdBytesConvertible, _ options: WatchOption...) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        watch(WatchOption.request(key, options))
    }

    /// Watches with a create request as given.
    public func watch(_ create: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Etcdserverpb_WatchResponse.self)
        let task = Task {
            do {
                try await runWatch(create, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runWatch(
        _ create: Etcdserverpb_WatchCreateRequest,
        into continuation: AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>.Continuation
    ) async throws {
        // The revision the next (re)created watch starts at; 0 until the first one is created.
        let nextRevision = Mutex(create.startRevision)
        var backoff = StreamBackoff(maximum: configuration.maxStreamRetryBackoff)
        while !Task.isCancelled {
            guard try await authenticateBeforeStream() else {
                try await backoff.wait()
                continue
            }
            let (index, client) = try preferredConnection()
            let request = Etcdserverpb_WatchCreateRequest.with {
                $0 = create
                $0.startRevision = nextRevision.withLock { $0 }
            }
            let (closeRequests, closer) = AsyncStream.makeStream(of: Void.self)
            do {
                try await Etcdserverpb_Watch.Client(wrapping: client).watch(
                    metadata: metadata,
                    requestProducer: { writer in
                        try await writer.write(.with { $0.createRequest = request })
                        for await _ in closeRequests {}
                    },
                    onResponse: { response in
                        defer { closer.finish() }
                        for try await message in response.messages {
                            if message.canceled {
                                throw EtcdClient.watchCancellation(message)
                            }
                            nextRevision.withLock { next in
                                if let last = message.events.last {
                                    next = last.kv.modRevision + 1
                                } else if message.created && next == 0 {
                                    next = message.header.revision + 1
                                } else if message.events.isEmpty && !message.created {
                                    // A progress notification: every revision up to it was delivered.
                                    next = max(next, message.header.revision + 1)
                                }
                            }
                            if !message.created { continuation.yield(message) }
                        }
                    })
                // The server ended the stream without an error (it is shutting down): go elsewhere.
            } catch {
                closer.finish()
                if Task.isCancelled { return }
                guard shouldReopenStream(after: error) else {
                    throw (error as? RPCError).map(EtcdClient.translate) ?? error
                }
            }
            endpointFailed(index)
            if nextRevision.withLock({ $0 }) != request.startRevision { backoff.reset() }
            try await backoff.wait()
        }
    }

    static func watchCancellation(_ message: Etcdserverpb_WatchResponse) -> EtcdError {
        if message.compactRevision > 0 {
            var error = EtcdError.etcd(.compacted)
            error.compactRevision = message.compactRevision
            return error
        }
        var error = EtcdError.etcd(.watchCanceled)
        if !message.cancelReason.isEmpty { error.message = message.cancelReason }
        return error
    }
}
