import EtcdProto
import GRPCCore
import GRPCNIOTransportHTTP2

extension EtcdClient {
    /// The status of the member at `endpoint` (an index into ``endpoints``): version, database size,
    /// leader, raft index and term. Asked of that member only, never another.
    public func status(endpoint: Int) async throws -> Etcdserverpb_StatusResponse {
        try await onEndpoint(endpoint) { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).status(.init(), metadata: metadata, options: options)
        }
    }

    /// The hash of the member's MVCC history up to `revision` (0: the newest), asked of `endpoint` only.
    public func hashKV(endpoint: Int, revision: Int64 = 0) async throws -> Etcdserverpb_HashKVResponse {
        let request = Etcdserverpb_HashKVRequest.with { $0.revision = revision }
        return try await onEndpoint(endpoint) { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).hashKV(request, metadata: metadata, options: options)
        }
    }

    /// Defragments the member at `endpoint`.
    @discardableResult
    public func defragment(endpoint: Int) async throws -> Etcdserverpb_DefragmentResponse {
        try await onEndpoint(endpoint) { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).defragment(.init(), metadata: metadata, options: options)
        }
    }

    /// Lists, arms or disarms alarms.
    public func alarm(_ request: Etcdserverpb_AlarmRequest) async throws -> Etcdserverpb_AlarmResponse {
        try await unary(idempotent: request.action == .get) { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).alarm(request, metadata: metadata, options: options)
        }
    }

    /// Asks the leader (reached through `endpoint`) to hand leadership to member `targetID`.
    @discardableResult
    public func moveLeader(endpoint: Int, targetID: UInt64) async throws -> Etcdserverpb_MoveLeaderResponse {
        let request = Etcdserverpb_MoveLeaderRequest.with { $0.targetID = targetID }
        return try await onEndpoint(endpoint) { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).moveLeader(request, metadata: metadata, options: options)
        }
    }

    /// Runs one call on a given endpoint, without failing over: per-member questions must be answered
    /// by that member.
    private func onEndpoint<Response: Sendable>(
        _ endpoint: Int,
        _ call: (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> Response
    ) async throws -> Response {
        precondition(endpoints.indices.contains(endpoint), "endpoint index \(endpoint) out of range")
        try await authenticateIfNeeded()
        var options = CallOptions.defaults
        options.timeout = configuration.requestTimeout
        do {
            return try await call(connection(endpoint), options)
        } catch let error as RPCError {
            throw EtcdClient.translate(error)
        }
    }
}

extension EtcdClient {
    /// Streams the member's backend snapshot (the member at `endpoint`), chunk by chunk, each with
    /// the number of bytes still to come.
    public func snapshot(endpoint: Int) -> AsyncThrowingStream<Etcdserverpb_SnapshotResponse, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Etcdserverpb_SnapshotResponse.self)
        let task = Task {
            do {
                try await authenticateIfNeeded()
                try await Etcdserverpb_Maintenance.Client(wrapping: connection(endpoint)).snapshot(
                    .init(), metadata: metadata
                ) { response in
                    for try await chunk in response.messages { continuation.yield(chunk) }
                }
                continuation.finish()
            } catch let error as RPCError {
                continuation.finish(throwing: EtcdClient.translate(error))
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
