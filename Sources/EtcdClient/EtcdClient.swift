import EtcdProto
import GRPCCore
import HTTP2PingResponder
import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import Synchronization

/// A client of etcd's v3 API: key-value, watch, lease, cluster and maintenance calls over gRPC.
///
/// The client keeps one HTTP/2 connection per endpoint and sends each call to the endpoint it
/// currently prefers. When that endpoint is unreachable (gRPC `unavailable`) or lets a call's
/// deadline pass, it is set aside and the next one is preferred; calls that are safe to repeat (reads, status, member list) are retried on
/// the next endpoint within the call's deadline, while writes are never repeated, because the first
/// attempt may have been applied. Watches and lease keep-alives resume on another endpoint by
/// themselves (see ``watch(_:options:)`` and ``keepAlive(leaseID:)``).
///
/// ```swift
/// let client = try EtcdClient(endpoints: ["127.0.0.1:2379"])
/// defer { Task { await client.close() } }
/// try await client.put("greeting", "hello")
/// let value = try await client.get("greeting").kvs.first?.value
/// ```
public final class EtcdClient: Sendable {
    /// How the client connects and how long it waits.
    public struct Configuration: Sendable {
        /// The deadline of one unary call, retries included (etcdctl's `--command-timeout`).
        public var requestTimeout: Duration = .seconds(5)
        /// How long a new connection may take (etcdctl's `--dial-timeout`).
        public var dialTimeout: Duration = .seconds(2)
        /// The interval of HTTP/2 keep-alive pings while calls are open; nil disables them.
        /// A watch on a dead server is noticed within `keepaliveTime + keepaliveTimeout`.
        public var keepaliveTime: Duration? = .seconds(10)
        /// How long to wait for a keep-alive ping's answer.
        public var keepaliveTimeout: Duration = .seconds(5)
        /// The longest pause between two attempts to reconnect a watch or keep-alive stream.
        public var maxStreamRetryBackoff: Duration = .seconds(2)
        /// gRPC metadata sent with every call.
        public var metadata: Metadata = [:]
        /// With credentials, the client authenticates before its first call and sends the token
        /// with every call, authenticating again when the server no longer accepts it.
        public var credentials: EtcdCredentials?
        /// TLS for `https://` endpoints and for bare `host:port` ones; nil: bare endpoints are
        /// plaintext and `https://` ones verify the server against the system's trust roots.
        public var tls: TLSConfiguration?

        public init() {}
    }

    /// The client's TLS files and checks (etcdctl's `--cacert`, `--cert`, `--key`,
    /// `--insecure-skip-tls-verify`).
    ///
    /// ```swift
    /// var configuration = EtcdClient.Configuration()
    /// configuration.tls = .init(trustedCAFile: "ca.pem", certificateFile: "client.pem", keyFile: "client-key.pem")
    /// let client = try EtcdClient(endpoints: ["https://127.0.0.1:2379"], configuration: configuration)
    /// ```
    public struct TLSConfiguration: Sendable, Hashable {
        /// PEM CA certificates the server's certificate must chain to; nil: the system's roots.
        public var trustedCAFile: String?
        /// The PEM certificate (chain) presented to servers that ask for one.
        public var certificateFile: String?
        /// The PEM private key of `certificateFile`.
        public var keyFile: String?
        /// false accepts any server certificate (etcdctl's `--insecure-skip-tls-verify`): the
        /// channel is encrypted, but the server is not authenticated.
        public var verifiesServer: Bool

        public init(trustedCAFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                    verifiesServer: Bool = true) {
            self.trustedCAFile = trustedCAFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.verifiesServer = verifiesServer
        }
    }

    /// The endpoints, in the order given.
    public let endpoints: [Endpoint]
    /// The configuration the client was created with.
    public let configuration: Configuration
    private let connections: [EndpointConnection]
    private let preference = Mutex(EndpointPreference())
    /// The auth token from the last authentication with ``Configuration/credentials``.
    let token = Mutex<String?>(nil)

    /// Creates a client for `endpoints` (`host:port`, `http://host:port`); connects lazily.
    public convenience init(endpoints: [String], configuration: Configuration = Configuration()) throws {
        try self.init(endpoints: endpoints.map { try Endpoint(parsing: $0) }, configuration: configuration)
    }

    /// Creates a client for `endpoints`; connects lazily.
    public init(endpoints: [Endpoint], configuration: Configuration = Configuration()) throws {
        guard !endpoints.isEmpty else { throw EtcdClientError.noEndpoints }
        self.endpoints = endpoints
        self.configuration = configuration
        connections = try endpoints.map { try EndpointConnection(endpoint: $0, configuration: configuration) }
    }

    /// Closes every connection after the calls in flight end; later calls fail with `closed`.
    public func close() async {
        preference.withLock { $0.closed = true }
        for connection in connections { await connection.close() }
    }

    /// Runs `body` with a new client and closes it afterwards, also when `body` throws.
    public static func withClient<Result: Sendable>(
        endpoints: [String],
        configuration: Configuration = Configuration(),
        _ body: (EtcdClient) async throws -> Result
    ) async throws -> Result {
        let client = try EtcdClient(endpoints: endpoints, configuration: configuration)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    // MARK: - Calls

    /// The gRPC client of the endpoint currently preferred, with its index.
    func preferredConnection() throws(EtcdClientError) -> (index: Int, client: GRPCClient<HTTP2ClientTransport.Posix>) {
        let (closed, index) = preference.withLock { ($0.closed, $0.preferred) }
        if closed { throw .closed }
        return (index, connections[index].client)
    }

    /// The gRPC client of endpoint `index`.
    func connection(_ index: Int) throws(EtcdClientError) -> GRPCClient<HTTP2ClientTransport.Posix> {
        if preference.withLock({ $0.closed }) { throw .closed }
        return connections[index].client
    }

    /// Sets endpoint `index` aside after it failed, so that the next call prefers the next one.
    func endpointFailed(_ index: Int) {
        preference.withLock { state in
            if state.preferred == index { state.preferred = (index + 1) % connections.count }
        }
    }

    /// Runs one unary call on the preferred endpoint within the request deadline.
    ///
    /// - Parameter idempotent: whether the call may be repeated on another endpoint after an
    ///   `unavailable` answer. Only reads and other calls without effects may say true.
    func unary<Response: Sendable>(
        idempotent: Bool,
        _ call: (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> Response
    ) async throws -> Response {
        try await authenticateIfNeeded()
        do {
            return try await unauthenticatedUnary(idempotent: idempotent, call)
        } catch let error as EtcdError where error.code == .invalidAuthToken && discardToken() {
            // The token expired (or the server restarted): authenticate again, then repeat the
            // call, which the server refused without applying it.
            try await authenticateIfNeeded()
            return try await unauthenticatedUnary(idempotent: idempotent, call)
        }
    }

    /// `unary` without getting a token first (the authentication call itself).
    func unauthenticatedUnary<Response: Sendable>(
        idempotent: Bool,
        _ call: (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> Response
    ) async throws -> Response {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        var attempts = 0
        while true {
            let (index, client) = try preferredConnection()
            var options = CallOptions.defaults
            options.timeout = deadline - ContinuousClock.now
            do {
                return try await call(client, options)
            } catch let error as RPCError {
                let unreachable = error.code == .unavailable
                // A member that does not answer within the whole deadline (paused, partitioned,
                // wedged) is set aside too, so the next call goes elsewhere; the call itself is not
                // repeated: its time is up.
                if unreachable || error.code == .deadlineExceeded { endpointFailed(index) }
                attempts += 1
                let timeLeft = deadline - ContinuousClock.now
                if unreachable && idempotent && timeLeft > .milliseconds(50) {
                    // A full round over the endpoints without success: pause before the next round.
                    if attempts % connections.count == 0 {
                        try await Task.sleep(for: min(.milliseconds(100 * attempts), timeLeft / 2))
                    }
                    continue
                }
                throw EtcdClient.translate(error)
            }
        }
    }

    /// etcd's error for a gRPC error, with transport failures named as such.
    static func translate(_ error: RPCError) -> EtcdError {
        let known = EtcdError(error)
        guard known.code == .other else { return known }
        switch error.code {
        case .unavailable: return EtcdError(code: .unavailable, grpcCode: error.code, message: error.message)
        case .deadlineExceeded:
            return EtcdError(code: .deadlineExceeded, grpcCode: error.code, message: "context deadline exceeded")
        default: return known
        }
    }

    /// The metadata of a call: the configured metadata, and the auth token once there is one.
    var metadata: Metadata {
        var metadata = configuration.metadata
        if let token = token.withLock({ $0 }), !token.isEmpty { metadata.replaceOrAddString(token, forKey: "token") }
        return metadata
    }
}

/// Which endpoint calls go to.
private struct EndpointPreference {
    var preferred = 0
    var closed = false
}

/// One endpoint's gRPC client and the task that runs its connections.
private final class EndpointConnection: Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let runner: Task<Void, Never>

    init(endpoint: Endpoint, configuration: EtcdClient.Configuration) throws {
        var transportConfig = HTTP2ClientTransport.Posix.Config.defaults
        transportConfig.connection.keepalive = configuration.keepaliveTime.map {
            .init(time: $0, timeout: configuration.keepaliveTimeout, allowWithoutCalls: false)
        }
        let tls: NIOSSLContext?
        if endpoint.usesTLS(hasTLSConfiguration: configuration.tls != nil) {
            tls = try Self.sslContext(configuration.tls ?? EtcdClient.TLSConfiguration())
        } else {
            tls = nil
        }
        // Named hosts are checked by name; addresses by the address connected to.
        let serverHostname = endpoint.host.first?.isNumber == true || endpoint.host.contains(":") ? nil : endpoint.host
        transportConfig.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                // In front of gRPC's handlers: the responder reads HTTP/2 frames, TLS before it.
                let operations = channel.pipeline.syncOperations
                try operations.addHandler(PingResponder(), position: .first)
                if let tls {
                    try operations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverHostname),
                                              position: .first)
                }
            }
        }
        transportConfig.backoff.initial = .milliseconds(100)
        transportConfig.backoff.max = configuration.dialTimeout
        let target: any ResolvableTarget = endpoint.host.contains(":")
            ? .ipv6(address: endpoint.host, port: endpoint.port)
            : (endpoint.host.first?.isNumber == true
                ? .ipv4(address: endpoint.host, port: endpoint.port)
                : .dns(host: endpoint.host, port: endpoint.port))
        // TLS is ours rather than the transport's, to accept what etcd's Go peers use (auto TLS
        // signs with P-521, which BoringSSL's default signature list leaves out).
        let transport = try HTTP2ClientTransport.Posix(
            target: target, transportSecurity: tls == nil ? .plaintext : .customSecure, config: transportConfig)
        let client = GRPCClient(transport: transport)
        self.client = client
        runner = Task { try? await client.runConnections() }
    }

    func close() async {
        client.beginGracefulShutdown()
        await runner.value
    }

    /// Signatures a server may use: BoringSSL's defaults plus P-521, which etcd's auto TLS uses.
    private static let acceptedSignatures: [SignatureAlgorithm] = [
        .ecdsaSecp256R1Sha256, .rsaPssRsaeSha256, .rsaPkcs1Sha256, .ecdsaSecp384R1Sha384, .rsaPssRsaeSha384,
        .rsaPkcs1Sha384, .rsaPssRsaeSha512, .rsaPkcs1Sha512, .ecdsaSecp521R1Sha512, .ed25519,
    ]

    private static func sslContext(_ tls: EtcdClient.TLSConfiguration) throws(EtcdClientError) -> NIOSSLContext {
        if (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw .invalidTLSConfiguration("a client certificate needs its key, and a key its certificate")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2"]
        configuration.verifySignatureAlgorithms = acceptedSignatures
        configuration.certificateVerification = tls.verifiesServer ? .fullVerification : .none
        do {
            if let certificate = tls.certificateFile, let key = tls.keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            if let ca = tls.trustedCAFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            let files = [tls.trustedCAFile, tls.certificateFile, tls.keyFile].compactMap { $0 }
            throw .invalidTLSConfiguration("cannot load the TLS files \(files.joined(separator: ", ")): \(error)")
        }
    }
}
