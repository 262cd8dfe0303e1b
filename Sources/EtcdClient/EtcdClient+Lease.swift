import EtcdProto
import GRPCCore
import Synchronization

extension EtcdClient {
    /// Grants a lease of `ttl` seconds; `id` 0 lets the server choose the id.
    public func grantLease(ttl: Int64, id: Int64 = 0) async throws -> Etcdserverpb_LeaseGrantResponse {
        let request = Etcdserverpb_LeaseGrantRequest.with { $0.ttl = ttl; $0.id = id }
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Lease.Client(wrapping: client).leaseGrant(request, metadata: metadata, options: options)
        }
    }

    /// Revokes a lease, deleting every key attached to it.
    @discardableResult
    public func revokeLease(_ id: Int64) async throws -> Etcdserverpb_LeaseRevokeResponse {
        let request = Etcdserverpb_LeaseRevokeRequest.with { $0.id = id }
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Lease.Client(wrapping: client).leaseRevoke(request, metadata: metadata, options: options)
        }
    }

    /// A lease's remaining and granted TTL, and with `keys` the keys attached to it.
    public func leaseTimeToLive(_ id: Int64, keys: Bool = false) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        let request = Etcdserverpb_LeaseTimeToLiveRequest.with { $0.id = id; $0.keys = keys }
        return try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Lease.Client(wrapping: client).leaseTimeToLive(request, metadata: metadata, options: options)
        }
    }

    /// Every lease the cluster holds.
    public func leases() async throws -> Etcdserverpb_LeaseLeasesResponse {
        try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Lease.Client(wrapping: client).leaseLeases(.init(), metadata: metadata, options: options)
        }
    }

    /// Keeps a lease alive until the iterating task is cancelled: one keep-alive request every third
    /// of the lease's TTL, each answered by a response carrying the renewed TTL.
    ///
    /// The sequence survives its server like ``watch(_:_:)``: a broken stream is opened again on the
    /// next endpoint. It ends with ``EtcdError`` `.leaseNotFound` when the lease has expired or was
    /// revoked (the server then answers a TTL of 0).
    public func keepAlive(leaseID: Int64) -> AsyncThrowingStream<Etcdserverpb_LeaseKeepAliveResponse, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Etcdserverpb_LeaseKeepAliveResponse.self)
        let task = Task {
            do {
                try await runKeepAlive(leaseID, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runKeepAlive(
        _ leaseID: Int64,
        into continuation: AsyncThrowingStream<Etcdserverpb_LeaseKeepAliveResponse, any Error>.Continuation
    ) async throws {
        // Seconds of the lease's TTL as last answered; until the first answer, renew every second.
        let ttl = Mutex<Int64>(3)
        var backoff = StreamBackoff(maximum: configuration.maxStreamRetryBackoff)
        while !Task.isCancelled {
            guard try await authenticateBeforeStream() else {
                try await backoff.wait()
                continue
            }
            let (index, client) = try preferredConnection()
            let renewed = Mutex(false)
            do {
                try await Etcdserverpb_Lease.Client(wrapping: client).leaseKeepAlive(
                    metadata: metadata,
                    requestProducer: { writer in
                        while !Task.isCancelled {
                            try await writer.write(.with { $0.id = leaseID })
                            let interval = max(ttl.withLock { $0 } * 1000 / 3, 500)
                            try await Task.sleep(for: .milliseconds(interval))
                        }
                    },
                    onResponse: { response in
                        for try await message in response.messages {
                            guard message.ttl > 0 else { throw EtcdError.etcd(.leaseNotFound) }
                            ttl.withLock { $0 = message.ttl }
                            renewed.withLock { $0 = true }
                            continuation.yield(message)
                        }
                    })
            } catch let error as EtcdError {
                throw error
            } catch {
                if Task.isCancelled { return }
                guard shouldReopenStream(after: error) else {
                    throw (error as? RPCError).map(EtcdClient.translate) ?? error
                }
            }
            endpointFailed(index)
            if renewed.withLock({ $0 }) { backoff.reset() }
            try await backoff.wait()
        }
    }
}
