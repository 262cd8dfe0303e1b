import EtcdProto
import Foundation
import GRPCCore

/// The name and password a client authenticates with (etcdctl's `--user name:password`).
public struct EtcdCredentials: Sendable, Hashable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

extension EtcdClient {
    // MARK: Tokens

    /// Authenticates with the configured credentials unless a token is at hand; calls and streams
    /// call this first, so that the token goes with them.
    func authenticateIfNeeded() async throws {
        guard let credentials = configuration.credentials, token.withLock({ $0 }) == nil else { return }
        do {
            let answer = try await authenticate(user: credentials.user, password: credentials.password)
            token.withLock { $0 = answer.token }
        } catch let error as EtcdError where error.code == .authNotEnabled {
            // As clientv3: a server without auth is used without a token (an empty one is not sent).
            token.withLock { $0 = "" }
        }
    }

    /// For a stream about to be (re)opened: authenticates if needed. Returns false when no member
    /// could be reached (the caller waits and tries again); throws when the credentials failed.
    func authenticateBeforeStream() async throws -> Bool {
        do {
            try await authenticateIfNeeded()
            return true
        } catch let error as EtcdError where error.code == .unavailable || error.code == .deadlineExceeded
            || error.grpcCode == .unavailable {
            return false
        }
    }

    /// Forgets a token the server no longer accepts, so that the next call authenticates again.
    /// - Returns: whether a new token can be had (the client has credentials).
    func discardToken() -> Bool {
        token.withLock { $0 = nil }
        return configuration.credentials != nil
    }

    /// Whether a watch or keep-alive stream that ended with `error` should be opened again: after
    /// transport failures, and after an expired token when the client can get a new one.
    func shouldReopenStream(after error: any Error) -> Bool {
        if isTransientStreamError(error) { return true }
        guard let rpcError = error as? RPCError else { return false }
        return EtcdError(rpcError).code == .invalidAuthToken && discardToken()
    }

    // MARK: Auth

    /// Asks for a token for `user`; a client configured with ``Configuration/credentials`` does this
    /// by itself and sends the token with every call.
    public func authenticate(user: String, password: String) async throws -> Etcdserverpb_AuthenticateResponse {
        var request = Etcdserverpb_AuthenticateRequest()
        request.name = user
        request.password = password
        return try await unauthenticatedUnary(idempotent: true) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).authenticate(request, metadata: self.configuration.metadata,
                                                                             options: options)
        }
    }

    /// Turns authentication on; the `root` user must exist and hold the `root` role.
    @discardableResult
    public func authEnable() async throws -> Etcdserverpb_AuthEnableResponse {
        try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).authEnable(.init(), metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func authDisable() async throws -> Etcdserverpb_AuthDisableResponse {
        try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).authDisable(.init(), metadata: self.metadata, options: options)
        }
    }

    // MARK: Users

    /// Adds a user; `noPassword` makes one that can only authenticate by TLS certificate (CN).
    @discardableResult
    public func userAdd(_ name: String, password: String, noPassword: Bool = false) async throws -> Etcdserverpb_AuthUserAddResponse {
        var request = Etcdserverpb_AuthUserAddRequest()
        request.name = name
        request.password = password
        request.options.noPassword = noPassword
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userAdd(request, metadata: self.metadata, options: options)
        }
    }

    public func userGet(_ name: String) async throws -> Etcdserverpb_AuthUserGetResponse {
        var request = Etcdserverpb_AuthUserGetRequest()
        request.name = name
        return try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userGet(request, metadata: self.metadata, options: options)
        }
    }

    public func userList() async throws -> Etcdserverpb_AuthUserListResponse {
        try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userList(.init(), metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func userDelete(_ name: String) async throws -> Etcdserverpb_AuthUserDeleteResponse {
        var request = Etcdserverpb_AuthUserDeleteRequest()
        request.name = name
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userDelete(request, metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func userChangePassword(_ name: String, password: String) async throws -> Etcdserverpb_AuthUserChangePasswordResponse {
        var request = Etcdserverpb_AuthUserChangePasswordRequest()
        request.name = name
        request.password = password
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userChangePassword(request, metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func userGrantRole(_ user: String, role: String) async throws -> Etcdserverpb_AuthUserGrantRoleResponse {
        var request = Etcdserverpb_AuthUserGrantRoleRequest()
        request.user = user
        request.role = role
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userGrantRole(request, metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func userRevokeRole(_ user: String, role: String) async throws -> Etcdserverpb_AuthUserRevokeRoleResponse {
        var request = Etcdserverpb_AuthUserRevokeRoleRequest()
        request.name = user
        request.role = role
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).userRevokeRole(request, metadata: self.metadata, options: options)
        }
    }

    // MARK: Roles

    @discardableResult
    public func roleAdd(_ name: String) async throws -> Etcdserverpb_AuthRoleAddResponse {
        var request = Etcdserverpb_AuthRoleAddRequest()
        request.name = name
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleAdd(request, metadata: self.metadata, options: options)
        }
    }

    public func roleGet(_ name: String) async throws -> Etcdserverpb_AuthRoleGetResponse {
        var request = Etcdserverpb_AuthRoleGetRequest()
        request.role = name
        return try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleGet(request, metadata: self.metadata, options: options)
        }
    }

    public func roleList() async throws -> Etcdserverpb_AuthRoleListResponse {
        try await unary(idempotent: true) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleList(.init(), metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func roleDelete(_ name: String) async throws -> Etcdserverpb_AuthRoleDeleteResponse {
        var request = Etcdserverpb_AuthRoleDeleteRequest()
        request.role = name
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleDelete(request, metadata: self.metadata, options: options)
        }
    }

    /// Lets `role` read, write or both on `key` (one key when `rangeEnd` is empty, else
    /// [key, rangeEnd); a rangeEnd of "\0" means every key from `key` on).
    @discardableResult
    public func roleGrantPermission(_ role: String, _ type: Authpb_Permission.TypeEnum, key: some EtcdBytesConvertible,
                                    rangeEnd: some EtcdBytesConvertible = Data()) async throws -> Etcdserverpb_AuthRoleGrantPermissionResponse {
        var request = Etcdserverpb_AuthRoleGrantPermissionRequest()
        request.name = role
        request.perm.permType = type
        request.perm.key = key.etcdBytes
        request.perm.rangeEnd = rangeEnd.etcdBytes
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleGrantPermission(request, metadata: self.metadata, options: options)
        }
    }

    @discardableResult
    public func roleRevokePermission(_ role: String, key: some EtcdBytesConvertible,
                                     rangeEnd: some EtcdBytesConvertible = Data()) async throws -> Etcdserverpb_AuthRoleRevokePermissionResponse {
        var request = Etcdserverpb_AuthRoleRevokePermissionRequest()
        request.role = role
        request.key = key.etcdBytes
        request.rangeEnd = rangeEnd.etcdBytes
        return try await unary(idempotent: false) { client, options in
            try await Etcdserverpb_Auth.Client(wrapping: client).roleRevokePermission(request, metadata: self.metadata, options: options)
        }
    }
}
