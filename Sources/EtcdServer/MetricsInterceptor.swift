import GRPCCore

/// Counts every RPC by service, method and final status code (`grpc_server_handled_total`).
struct MetricsInterceptor: ServerInterceptor {
    let metrics: ServerMetrics

    private static let streamingMethods: [String: String] = [
        "Watch": "bidi_stream", "LeaseKeepAlive": "bidi_stream", "Snapshot": "server_stream",
    ]

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let service = context.descriptor.service.fullyQualifiedService
        let method = context.descriptor.method
        let type = Self.streamingMethods[method] ?? "unary"
        let metrics = metrics
        @Sendable func record(_ code: String) {
            metrics.countHandled(type: type, service: service, method: method, code: code)
        }
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            record(Self.name(error.rpcError.code))
            throw error
        }
        switch response.accepted {
        case .failure(let error):
            record(Self.name(error.code))
            return response
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    record("OK")
                    return trailers
                } catch {
                    record(Self.name(error.rpcError.code))
                    throw error
                }
            }
            return StreamingServerResponse(accepted: .success(contents))
        }
    }

    /// gRPC's canonical code names, as Go's grpc-prometheus labels them.
    static func name(_ code: RPCError.Code) -> String {
        switch code {
        case .cancelled: "Canceled"
        case .unknown: "Unknown"
        case .invalidArgument: "InvalidArgument"
        case .deadlineExceeded: "DeadlineExceeded"
        case .notFound: "NotFound"
        case .alreadyExists: "AlreadyExists"
        case .permissionDenied: "PermissionDenied"
        case .resourceExhausted: "ResourceExhausted"
        case .failedPrecondition: "FailedPrecondition"
        case .aborted: "Aborted"
        case .outOfRange: "OutOfRange"
        case .unimplemented: "Unimplemented"
        case .internalError: "Internal"
        case .unavailable: "Unavailable"
        case .dataLoss: "DataLoss"
        case .unauthenticated: "Unauthenticated"
        default: "Unknown"
        }
    }
}
