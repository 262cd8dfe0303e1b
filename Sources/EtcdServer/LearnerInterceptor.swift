import GRPCCore

/// A learner serves only Status and serializable Range, as etcd's learners do; every other RPC,
/// streams included, gets "rpc not supported for learner". (Range checks `serializable` itself.)
struct LearnerInterceptor: ServerInterceptor {
    let core: ServerCore

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if core.isLearner && context.descriptor.method != "Status" && context.descriptor.method != "Range" {
            throw ServerError.notSupportedForLearner.rpcError
        }
        return try await next(request, context)
    }
}

extension ServerCore {
    var isLearner: Bool { members.member(identity.memberID)?.isLearner ?? false }
}
