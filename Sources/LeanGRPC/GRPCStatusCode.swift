import GRPCCore

extension RPCError.Code {
    /// The code of a `grpc-status` number; numbers outside gRPC's codes are UNKNOWN, as gRPC says.
    public init(rawStatus: Int) {
        let codes: [RPCError.Code] = [
            .cancelled, .unknown, .invalidArgument, .deadlineExceeded, .notFound, .alreadyExists,
            .permissionDenied, .resourceExhausted, .failedPrecondition, .aborted, .outOfRange,
            .unimplemented, .internalError, .unavailable, .dataLoss, .unauthenticated,
        ]
        self = (1...16).contains(rawStatus) ? codes[rawStatus - 1] : .unknown
    }
}
