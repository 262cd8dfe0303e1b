import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Synchronization

/// A listening socket whose connections speak gRPC through `GRPCConnectionHandler`.
public final class GRPCListener: Sendable {
    public struct Configuration: Sendable {
        /// Larger request messages are refused with RESOURCE_EXHAUSTED, as grpc-go refuses them.
        public var maximumReceiveMessageBytes: Int
        public var maximumConcurrentStreams: Int
        /// The stream window advertised in SETTINGS and kept topped up.
        public var streamWindowBytes = 1 << 20
        /// The connection window kept topped up.
        public var connectionWindowBytes = 4 << 20

        public init(maximumReceiveMessageBytes: Int, maximumConcurrentStreams: Int) {
            self.maximumReceiveMessageBytes = maximumReceiveMessageBytes
            self.maximumConcurrentStreams = maximumConcurrentStreams
        }
    }

    private let channel: any Channel
    private struct Connection {
        let channel: any Channel
        let handler: NIOLoopBound<GRPCConnectionHandler>
    }

    private let registry: Registry

    private init(channel: any Channel, registry: Registry) {
        self.channel = channel
        self.registry = registry
    }

    /// Binds and starts accepting. `prepare` runs first on every accepted connection (on its event
    /// loop), to put handlers in front of HTTP/2: TLS, or one that tells gRPC from HTTP/1.1.
    public static func bind(
        host: String, port: Int, group: any EventLoopGroup, table: GRPCMethodTable, configuration: Configuration,
        prepare: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> GRPCListener {
        let registry = Registry()
        let settings = HTTP2Settings([
            HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maximumConcurrentStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: configuration.streamWindowBytes),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try prepare(channel)
                    let handler = GRPCConnectionHandler(table: table, configuration: configuration)
                    // The header block checks (RFC 9113 8.2-8.3) cost a few percent of the CPU of
                    // every call; a call's handler reads only the headers it needs and answers
                    // anything without a known `:path` as unimplemented, as it would with them.
                    try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(
                        mode: .server, initialSettings: settings,
                        headerBlockValidation: .disabled, contentLengthValidation: .disabled))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    registry.add(channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            .bind(host: host, port: port).get()
        return GRPCListener(channel: channel, registry: registry)
    }

    /// Connections register here before the listener object exists.
    private final class Registry: Sendable {
        let connections = Mutex<[ObjectIdentifier: Connection]>([:])

        func add(_ channel: any Channel, _ handler: NIOLoopBound<GRPCConnectionHandler>) {
            let key = ObjectIdentifier(channel)
            connections.withLock { $0[key] = Connection(channel: channel, handler: handler) }
            channel.closeFuture.whenComplete { [self] _ in
                _ = connections.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    public var localAddress: SocketAddress? { channel.localAddress }

    /// Stops accepting; open connections close (after a GOAWAY) once their calls have finished.
    public func beginGracefulShutdown() {
        channel.close(promise: nil)
        for connection in registry.connections.withLock({ Array($0.values) }) {
            let handler = connection.handler
            connection.channel.eventLoop.execute { handler.value.beginGracefulShutdown() }
        }
    }

    /// Closes every connection now (calls still running are cancelled).
    public func closeAll() {
        channel.close(promise: nil)
        for connection in registry.connections.withLock({ Array($0.values) }) { connection.channel.close(promise: nil) }
    }

    /// Returns once the listening socket and every connection have closed.
    public func closed() async {
        try? await channel.closeFuture.get()
        while let next = registry.connections.withLock({ $0.values.first }) {
            try? await next.channel.closeFuture.get()
            // Its entry goes on a callback of the same future; wait for that too.
            registry.connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(next.channel)) }
        }
    }
}
