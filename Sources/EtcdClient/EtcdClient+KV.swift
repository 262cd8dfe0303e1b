import EtcdProto

extension EtcdClient {
    /// Reads a key, or a range of keys with `.prefix`, `.fromKey` or `.range(.until(end))`.
    @discardableResult
    public func get(_ key: some EtcdBytesConvertible, _ options: GetOption...) async throws -> Etcdserverpb_RangeResponse {
        try await range(GetOption.request(key, options))
    }

    /// Sends a range request as given.
    public func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).range(request, metadata: metadata, options: options)
        }
    }

    /// Writes a key.
    @discardableResult
    public func put(_ key: some EtcdBytesConvertible, _ value: some EtcdBytesConvertible,
                    _ options: PutOption...) async throws -> Etcdserverpb_PutResponse {
        try await put(PutOption.request(key, value, options))
    }

    /// Sends a put request as given.
    @discardableResult
    public func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).put(request, metadata: metadata, options: options)
        }
    }

    /// Deletes a key, or a range of keys.
    @discardableResult
    public func delete(_ key: some EtcdBytesConvertible, _ options: DeleteOption...) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await delete(DeleteOption.request(key, options))
    }

    /// Sends a delete request as given.
    @discardableResult
    public func delete(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).deleteRange(request, metadata: metadata, options: options)
        }
    }

    /// Runs a transaction.
    @discardableResult
    public func txn(_ txn: Txn) async throws -> Etcdserverpb_TxnResponse {
        try await self.txn(txn.request)
    }

    /// Sends a transaction request as given.
    @discardableResult
    public func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        // A transaction without writes is a read and may be repeated.
        let writes = !request.success.allSatisfy(\.isRead) || !request.failure.allSatisfy(\.isRead)
        return try await unary(idempotent: !writes) { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(request, metadata: metadata, options: options)
        }
    }

    /// Discards the history before `revision`; with `physical`, returns only once it is removed from disk.
    @discardableResult
    public func compact(_ revision: Int64, physical: Bool = false) async throws -> Etcdserverpb_CompactionResponse {
        let request = Etcdserverpb_CompactionRequest.with { $0.revision = revision; $0.physical = physical }
        // Not repeated: a second attempt after a lost answer would fail with "compacted".
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).compact(request, metadata: metadata, options: options)
        }
    }
}

extension Etcdserverpb_RequestOp {
    /// Whether the operation only reads (a nested transaction counts if all its branches only read).
    var isRead: Bool {
        switch request {
        case .requestRange: return true
        case .requestTxn(let txn): return txn.success.allSatisfy(\.isRead) && txn.failure.allSatisfy(\.isRead)
        case .requestPut, .requestDeleteRange, .none: return false
        }
    }
}
