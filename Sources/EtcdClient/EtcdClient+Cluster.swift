import EtcdProto

extension EtcdClient {
    /// The cluster's members, with their peer and client URLs.
    public func memberList() async throws -> Etcdserverpb_MemberListResponse {
        try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Cluster.Client(wrapping: client).memberList(.init(), metadata: metadata, options: options)
        }
    }

    /// Adds a member (a learner with `isLearner`) that will join with `peerURLs`.
    public func memberAdd(peerURLs: [String], isLearner: Bool = false) async throws -> Etcdserverpb_MemberAddResponse {
        let request = Etcdserverpb_MemberAddRequest.with { $0.peerUrls = peerURLs; $0.isLearner = isLearner }
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Cluster.Client(wrapping: client).memberAdd(request, metadata: metadata, options: options)
        }
    }

    /// Removes a member.
    public func memberRemove(id: UInt64) async throws -> Etcdserverpb_MemberRemoveResponse {
        let request = Etcdserverpb_MemberRemoveRequest.with { $0.id = id }
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Cluster.Client(wrapping: client).memberRemove(request, metadata: metadata, options: options)
        }
    }

    /// Changes a member's peer URLs.
    public func memberUpdate(id: UInt64, peerURLs: [String]) async throws -> Etcdserverpb_MemberUpdateResponse {
        let request = Etcdserverpb_MemberUpdateRequest.with { $0.id = id; $0.peerUrls = peerURLs }
        return try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Cluster.Client(wrapping: client).memberUpdate(request, metadata: metadata, options: options)
        }
    }

    /// Promotes a learner that has caught up with the leader to a voting member.
    public func memberPromote(id: UInt64) async throws -> Etcdserverpb_MemberPromoteResponse {
        let request = Etcdserverpb_MemberPromoteRequest.with { $0.id = id }
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Cluster.Client(wrapping: client).memberPromote(request, metadata: metadata, options: options)
        }
    }
}
