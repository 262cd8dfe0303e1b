import Foundation
import GRPCCore
import LeanGRPC
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Raft
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the transport hands to the member it serves. Called on event-loop threads; every method
/// must return quickly (hand work to the Raft driver or to a task).
protocol PeerTransportDelegate: AnyObject, Sendable {
    func peerMessagesReceived(_ messages: [Message])
    func peerUnreachable(_ id: UInt64)
    func peerSnapshotSent(to id: UInt64, status: SnapshotStatus)
    /// A whole snapshot file arrived with the Raft message announcing it. - Returns: an error
    /// description if it was refused (the sender reports a failed snapshot and retries later).
    func peerSnapshotReceived(_ message: Message, path: String) async -> String?
    func peerRequest(kind: PeerRequestKind, body: [UInt8]) async -> Result<[UInt8], ServerError>
    /// A peer refused us because we were removed from the cluster.
    func peerSaysRemoved()
}

/// Requests one member makes of another (answered on the `request` stream).
enum PeerRequestKind: UInt8 {
    /// The cluster's id and members (a joining member asks; body empty).
    case memberList = 1
    /// A lease keep-alive for the leader's lessor (`Etcdserverpb_LeaseKeepAliveRequest`).
    case leaseKeepAlive = 2
    /// `Etcdserverpb_LeaseTimeToLiveRequest`, answered by the leader's lessor.
    case leaseTimeToLive = 3
    /// `Etcdserverpb_MemberPromoteRequest`: only the leader knows whether a learner caught up.
    case memberPromote = 4
    /// `Etcdserverpb_HashKVRequest` (the start-up corruption check).
    case hashKV = 5
}

/// Why a connection was refused (first byte of a `refused` frame; the reason follows in UTF-8).
enum PeerRefusal: UInt8 {
    case clusterMismatch = 1
    case memberMismatch = 2
    case removed = 3
    case failed = 4
}

/// The peer transport (etcd's rafthttp, on its own framing over TCP): listens on
/// `--listen-peer-urls` and keeps one outgoing raft stream per peer.
///
/// Each peer has its own `PeerLink` on its own event loop with a bounded queue, so a slow or dead
/// peer only ever loses its own messages (which Raft resends) and never holds up the driver or
/// other peers. Snapshots go on a connection of their own, in chunks, paced by the socket.
final class PeerTransport: Sendable {
    let localID: UInt64
    let clusterID: UInt64
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Where a snapshot being received is written, given a random tag.
    private let receivingPath: @Sendable (UInt64) -> String
    /// For `https://` peer URLs (nil: only `http://` ones work).
    let tls: PeerTLS?
    private let delegateBox = Mutex<(any PeerTransportDelegate)?>(nil)
    private let links = Mutex<[UInt64: PeerLink]>([:])
    private let listeners = Mutex<[any Channel]>([])
    /// Refuses connections from members the log has removed.
    private let isRemoved: @Sendable (UInt64) -> Bool

    /// The largest frame accepted: a batch of appends is limited by Raft's message size, far below.
    static let maximumFrameBytes = 256 << 20
    static let snapshotChunkBytes = 1 << 20

    init(localID: UInt64, clusterID: UInt64, receivingPath: @escaping @Sendable (UInt64) -> String, tls: PeerTLS?,
         logger: Logger, isRemoved: @escaping @Sendable (UInt64) -> Bool,
         group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.localID = localID
        self.tls = tls
        self.clusterID = clusterID
        self.group = group
        self.logger = logger
        self.receivingPath = receivingPath
        self.isRemoved = isRemoved
    }

    var delegate: (any PeerTransportDelegate)? { delegateBox.withLock { $0 } }

    func setDelegate(_ delegate: (any PeerTransportDelegate)?) { delegateBox.withLock { $0 = delegate } }

    // MARK: Listening

    /// Binds every peer URL.
    func listen(on urls: [String]) async throws {
        for url in urls {
            let (host, port) = try Self.hostAndPort(url)
            let serverTLS: NIOSSLContext?
            if url.hasPrefix("https://") {
                guard let tls else { throw ServerError(.invalidArgument, "etcdserver: \(url) needs peer TLS certificates") }
                serverTLS = tls.server
            } else {
                serverTLS = nil
            }
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let serverTLS {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverTLS))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(PeerFrameDecoder(maximumBytes: Self.maximumFrameBytes)))
                        try channel.pipeline.syncOperations.addHandler(PeerServerHandler(transport: self))
                    }
                }
            let channel = try await bootstrap.bind(host: host == "" ? "0.0.0.0" : host, port: port).get()
            listeners.withLock { $0.append(channel) }
            logger.info("embed: listening for peers on \(url)")
        }
    }

    /// Closes listeners and every connection.
    func shutdown() {
        setDelegate(nil)
        let channels = listeners.withLock { channels in
            defer { channels = [] }
            return channels
        }
        for channel in channels { channel.close(promise: nil) }
        let all = links.withLock { links in
            defer { links = [:] }
            return Array(links.values)
        }
        for link in all { link.close() }
    }

    // MARK: Peers

    /// Makes the set of links match the membership (the local member excluded).
    func updatePeers(_ members: [ClusterMember]) {
        let wanted = Dictionary(members.filter { $0.id != localID }.map { ($0.id, $0.peerURLs) },
                                uniquingKeysWith: { first, _ in first })
        let (closed, opened) = links.withLock { links -> ([PeerLink], [PeerLink]) in
            var closed: [PeerLink] = []
            for (id, link) in links where wanted[id] == nil {
                closed.append(link)
                links[id] = nil
            }
            var opened: [PeerLink] = []
            for (id, urls) in wanted {
                if let link = links[id] {
                    link.setURLs(urls)
                } else {
                    let link = PeerLink(id: id, urls: urls, transport: self, loop: group.next())
                    links[id] = link
                    opened.append(link)
                }
            }
            return (closed, opened)
        }
        for link in closed { link.close() }
        for link in opened {
            logger.info("rafthttp: added peer \(hex(link.id))")
            link.start()
        }
    }

    /// Sends messages (one batch per peer); snapshots go on their own connections.
    func send(_ messages: [Message], snapshotPath: (Message) -> String?) {
        var batches: [UInt64: [Message]] = [:]
        for message in messages {
            if message.type == .snapshot {
                if let path = snapshotPath(message) {
                    sendSnapshot(message, path: path)
                } else {
                    delegate?.peerSnapshotSent(to: message.to, status: .failure)
                }
            } else {
                batches[message.to, default: []].append(message)
            }
        }
        let targets = links.withLock { links in batches.keys.map { ($0, links[$0]) } }
        for (id, link) in targets {
            guard let link, let batch = batches[id] else {
                delegate?.peerUnreachable(id)
                continue
            }
            link.send(RaftMessageCodec.encode(batch))
        }
    }

    /// When each peer's raft stream last became active (nil while it is down): etcd's `ActiveSince`.
    func activeSince(_ id: UInt64) -> ContinuousClock.Instant? {
        links.withLock { $0[id] }?.activeSince
    }

    // MARK: Snapshots

    private func sendSnapshot(_ message: Message, path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0, let urls = links.withLock({ $0[message.to]?.urls }), let url = urls.first else {
            if descriptor >= 0 { close(descriptor) }
            logger.warning("rafthttp: cannot send snapshot \(path) to \(hex(message.to))")
            delegate?.peerSnapshotSent(to: message.to, status: .failure)
            return
        }
        logger.info("rafthttp: start to send database snapshot [index: \(message.snapshot?.metadata.index ?? 0), to: \(hex(message.to))]")
        let hello = PeerHello(stream: .snapshot, clusterID: clusterID, from: localID, to: message.to)
        let sender = PeerSnapshotSender(hello: hello, message: message, descriptor: descriptor) { [self] success in
            logger.info("rafthttp: \(success ? "sent" : "failed to send") database snapshot [index: \(message.snapshot?.metadata.index ?? 0), to: \(hex(message.to))]")
            delegate?.peerSnapshotSent(to: message.to, status: success ? .finished : .failure)
        }
        do {
            let (host, port) = try Self.hostAndPort(url)
            try Self.clientBootstrap(url: url, tls: tls, group: group.next(), handler: sender).connect(host: host, port: port).whenFailure { _ in
                sender.connectFailed()
            }
        } catch {
            sender.connectFailed()
        }
    }

    /// A new file for a snapshot being received; the path is handed on when the stream ends.
    fileprivate func newReceivingPath() -> String { receivingPath(UInt64.random(in: 1...UInt64.max)) }

    // MARK: Requests

    /// Asks the member at `urls` (tried in turn) for something. Throws the member's error, or
    /// `unavailable` when none answers in time.
    func request(_ kind: PeerRequestKind, body: [UInt8], to id: UInt64,
                 timeout: Duration = .seconds(5)) async throws(ServerError) -> [UInt8] {
        guard let urls = links.withLock({ $0[id]?.urls }) else { throw .memberNotFound }
        return try await Self.request(kind, body: body, urls: urls, hello: PeerHello(
            stream: .request, clusterID: clusterID, from: localID, to: id), tls: tls, group: group, timeout: timeout)
    }

    static func request(_ kind: PeerRequestKind, body: [UInt8], urls: [String], hello: PeerHello, tls: PeerTLS?,
                        group: any EventLoopGroup, timeout: Duration) async throws(ServerError) -> [UInt8] {
        var lastError = ServerError(.unavailable, "etcdserver: no peer URL to ask")
        for url in urls {
            let frame: PeerFrame
            do {
                frame = try await exchange(kind, body: body, url: url, hello: hello, tls: tls, loop: group.next(),
                                           timeout: timeout)
            } catch let error as ServerError {
                lastError = error
                continue
            } catch {
                lastError = ServerError(.unavailable, "etcdserver: peer \(url) unreachable: \(error)")
                continue
            }
            // The member answered: its answer (or error) stands; its other URLs would say the same.
            return try PeerResponse.decode(frame)
        }
        throw lastError
    }

    /// One request on a connection of its own to `url`; the answer frame, or a connection error.
    private static func exchange(_ kind: PeerRequestKind, body: [UInt8], url: String, hello: PeerHello, tls: PeerTLS?,
                                 loop: any EventLoop, timeout: Duration) async throws -> PeerFrame {
        let (host, port) = try hostAndPort(url)
        let promise = loop.makePromise(of: PeerFrame.self)
        let caller = PeerRequestCaller(hello: hello, request: [kind.rawValue] + body, promise: promise)
        let channel: any Channel
        do {
            channel = try await clientBootstrap(url: url, tls: tls, group: loop, handler: caller)
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                       + timeout.components.attoseconds / 1_000_000_000)) {
            promise.fail(ServerError.timeout)
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    // MARK: Helpers

    static func clientBootstrap(url: String, tls: PeerTLS?, group: any EventLoopGroup,
                                handler: some ChannelInboundHandler & Sendable) throws(ServerError) -> ClientBootstrap {
        let clientTLS: NIOSSLContext?
        if url.hasPrefix("https://") {
            guard let tls else { throw ServerError(.unavailable, "etcdserver: \(url) needs peer TLS certificates") }
            clientTLS = tls.client
        } else {
            clientTLS = nil
        }
        return ClientBootstrap(group: group)
            .connectTimeout(.seconds(1))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let clientTLS {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: clientTLS, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(PeerFrameDecoder(maximumBytes: maximumFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
    }

    static func hostAndPort(_ url: String) throws(ServerError) -> (String, Int) {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw ServerError(.invalidArgument, "etcdserver: invalid peer URL \(url)")
        }
        return (host == "localhost" ? "127.0.0.1" : host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func log(_ message: @autoclosure () -> String, level: Logger.Level = .info) {
        logger.log(level: level, "\(message())")
    }

    // MARK: Inbound

    /// Checks a hello; nil when the connection may proceed.
    fileprivate func refusal(for hello: PeerHello) -> (PeerRefusal, String)? {
        if hello.stream == .request && hello.clusterID == 0 && hello.to == 0 { return nil }
        if hello.clusterID != clusterID {
            return (.clusterMismatch, "request cluster ID mismatch (got \(hex(hello.clusterID)) want \(hex(clusterID)))")
        }
        if hello.to != localID {
            return (.memberMismatch, "request sent to member \(hex(hello.to)), but this is member \(hex(localID))")
        }
        if isRemoved(hello.from) {
            return (.removed, "the member has been permanently removed from the cluster")
        }
        return nil
    }
}

// MARK: - Frames

struct PeerFrame: Sendable {
    var kind: PeerFrameKind
    var payload: [UInt8]

    static func buffer(_ kind: PeerFrameKind, _ payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 5 + payload.count)
        buffer.writeInteger(UInt32(1 + payload.count))
        buffer.writeInteger(kind.rawValue)
        buffer.writeBytes(payload)
        return buffer
    }
}

struct PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    let maximumBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length >= 1, Int(length) <= maximumBytes else { throw PeerWireError.frameTooLarge(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let kindByte = buffer.readInteger(as: UInt8.self)!
        let payload = buffer.readBytes(length: Int(length) - 1)!
        guard let kind = PeerFrameKind(rawValue: kindByte) else { throw PeerWireError.malformed("frame kind \(kindByte)") }
        context.fireChannelRead(wrapInboundOut(PeerFrame(kind: kind, payload: payload)))
        return .continue
    }
}

enum PeerResponse {
    static func encode(_ result: Result<[UInt8], ServerError>) -> [UInt8] {
        switch result {
        case .success(let body): return [0] + body
        case .failure(let error): return [UInt8(truncatingIfNeeded: error.code.rawValue)] + Array(error.message.utf8)
        }
    }

    static func decode(_ frame: PeerFrame) throws(ServerError) -> [UInt8] {
        switch frame.kind {
        case .response:
            guard let status = frame.payload.first else { throw ServerError(.internalError, "etcdserver: empty peer response") }
            let body = Array(frame.payload.dropFirst())
            if status == 0 { return body }
            throw ServerError(RPCError.Code(rawStatus: Int(status)), String(decoding: body, as: UTF8.self))
        case .refused:
            throw ServerError(.unavailable, "etcdserver: peer refused: " + String(decoding: frame.payload.dropFirst(), as: UTF8.self))
        default:
            throw ServerError(.internalError, "etcdserver: unexpected peer frame \(frame.kind)")
        }
    }
}

// MARK: - Outgoing raft stream

/// One peer's outgoing raft stream. Everything below runs on `loop`; other threads only call
/// `send`, `setURLs` and `close`, which hop onto it.
final class PeerLink: @unchecked Sendable {
    let id: UInt64
    private let loop: any EventLoop
    private unowned let transport: PeerTransport
    private let shared: Mutex<(urls: [String], activeSince: ContinuousClock.Instant?)>

    // Loop-confined.
    private var channel: (any Channel)?
    private var connecting = false
    private var waiting: [[UInt8]] = []
    private var urlIndex = 0
    private var retryAfter: NIODeadline = .uptimeNanoseconds(0)
    private var backoff: TimeAmount = .milliseconds(50)
    private var isClosed = false
    private var reportedDown = false
    private var reportedRefusal = false
    private var reconnectScheduled = false

    /// Batches held while connecting or while the socket is full; beyond this they are dropped
    /// and Raft is told the peer is unreachable (it resends from its log).
    static let waitingLimit = 512

    init(id: UInt64, urls: [String], transport: PeerTransport, loop: any EventLoop) {
        self.id = id
        self.loop = loop
        self.transport = transport
        shared = Mutex((urls, nil))
    }

    var urls: [String] { shared.withLock { $0.urls } }
    var activeSince: ContinuousClock.Instant? { shared.withLock { $0.activeSince } }

    func setURLs(_ urls: [String]) { shared.withLock { $0.urls = urls } }

    /// Dials the peer now and keeps the stream up from then on, as etcd does: a member knows
    /// which peers are reachable before it has anything to send them (a follower checks that
    /// before accepting a membership change), and the first message finds the stream open.
    func start() {
        loop.execute { self.connectIfIdle() }
    }

    func send(_ batch: [UInt8]) {
        loop.execute { self.enqueue(batch) }
    }

    func close() {
        loop.execute {
            self.isClosed = true
            self.waiting = []
            self.channel?.close(promise: nil)
            self.channel = nil
        }
    }

    private func enqueue(_ batch: [UInt8]) {
        guard !isClosed else { return }
        if let channel, channel.isWritable, waiting.isEmpty {
            channel.writeAndFlush(PeerFrame.buffer(.raftMessages, batch, allocator: channel.allocator), promise: nil)
            return
        }
        guard waiting.count < Self.waitingLimit else {
            waiting = []
            transport.delegate?.peerUnreachable(id)
            return
        }
        waiting.append(batch)
        if channel == nil && !connecting { connect() }
    }

    private func connectIfIdle() {
        guard !isClosed, channel == nil, !connecting else { return }
        connect()
    }

    /// Dials again when the backoff ends; the link never stops trying until it is closed.
    private func scheduleReconnect() {
        guard !isClosed, !reconnectScheduled else { return }
        reconnectScheduled = true
        loop.scheduleTask(deadline: retryAfter) {
            self.reconnectScheduled = false
            self.connectIfIdle()
        }
    }

    private func connect() {
        let urls = urls
        guard !urls.isEmpty else { return }
        if NIODeadline.now() < retryAfter {
            // Still backing off: what waits is dropped (Raft resends it), and the link dials
            // again when the backoff ends.
            waiting = []
            transport.delegate?.peerUnreachable(id)
            scheduleReconnect()
            return
        }
        connecting = true
        let url = urls[urlIndex % urls.count]
        let handler = PeerLinkHandler(link: self)
        do {
            let (host, port) = try PeerTransport.hostAndPort(url)
            try PeerTransport.clientBootstrap(url: url, tls: transport.tls, group: loop, handler: handler)
                .connect(host: host, port: port)
                .hop(to: loop).whenComplete { result in
                    switch result {
                    case .success(let channel): self.connected(channel)
                    case .failure(let error): self.failed("\(error)")
                    }
                }
        } catch {
            failed("\(error)")
        }
    }

    private func connected(_ channel: any Channel) {
        connecting = false
        guard !isClosed else {
            channel.close(promise: nil)
            return
        }
        guard channel.isActive else {
            // Closed before we got here: its close was not ours to see, so count it as a failure.
            failed("connection closed")
            return
        }
        self.channel = channel
        let hello = PeerHello(stream: .raft, clusterID: transport.clusterID, from: transport.localID, to: id)
        channel.write(PeerFrame.buffer(.hello, hello.encoded(), allocator: channel.allocator), promise: nil)
        flushWaiting()
    }

    private func failed(_ reason: String) {
        connecting = false
        urlIndex += 1
        retryAfter = .now() + backoff
        backoff = min(backoff * 2, .seconds(1))
        waiting = []
        if !reportedDown {
            reportedDown = true
            transport.log("rafthttp: failed to dial \(hex(id)) on stream (\(reason)); peer \(hex(id)) became inactive",
                          level: .warning)
        }
        transport.delegate?.peerUnreachable(id)
        scheduleReconnect()
    }

    // Called by the handler, on the loop.

    func accepted() {
        backoff = .milliseconds(50)
        reportedDown = false
        reportedRefusal = false
        shared.withLock { $0.activeSince = .now }
        transport.log("rafthttp: peer \(hex(id)) became active")
    }

    func refused(_ refusal: PeerRefusal?, reason: String) {
        // Said once: the link keeps dialing, and the peer keeps refusing until something changes.
        if !reportedRefusal {
            reportedRefusal = true
            transport.log("rafthttp: peer \(hex(id)) refused the stream: \(reason)", level: .error)
        }
        if refusal == .removed { transport.delegate?.peerSaysRemoved() }
        retryAfter = .now() + .seconds(1)
    }

    func closed(_ channel: any Channel) {
        guard self.channel === channel else { return }
        self.channel = nil
        waiting = []
        let wasActive = shared.withLock { state in
            defer { state.activeSince = nil }
            return state.activeSince != nil
        }
        if wasActive && !isClosed {
            transport.log("rafthttp: lost the TCP streaming connection with peer \(hex(id)); peer \(hex(id)) became inactive",
                          level: .warning)
            reportedDown = true
        }
        guard !isClosed else { return }
        transport.delegate?.peerUnreachable(id)
        retryAfter = max(retryAfter, .now() + backoff)
        scheduleReconnect()
    }

    func flushWaiting() {
        guard let channel else { return }
        while !waiting.isEmpty && channel.isWritable {
            let batch = waiting.removeFirst()
            channel.write(PeerFrame.buffer(.raftMessages, batch, allocator: channel.allocator), promise: nil)
        }
        channel.flush()
    }
}

/// Reads the answers on an outgoing raft stream (only `accepted` or `refused`).
final class PeerLinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = PeerFrame
    private let link: PeerLink

    init(link: PeerLink) { self.link = link }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.kind {
        case .accepted:
            link.accepted()
        case .refused:
            link.refused(frame.payload.first.flatMap(PeerRefusal.init(rawValue:)),
                         reason: String(decoding: frame.payload.dropFirst(), as: UTF8.self))
            context.close(promise: nil)
        default:
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { link.flushWaiting() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.closed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

// MARK: - Outgoing snapshot

/// Streams one snapshot file: hello, the Raft message, chunks (the next one written when the
/// previous has left, so the socket paces the sender), end; then waits for the verdict.
final class PeerSnapshotSender: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = PeerFrame
    private let hello: PeerHello
    private let message: Message
    private let descriptor: Int32
    private let finished: @Sendable (Bool) -> Void
    private var done = false
    private var offset: Int64 = 0

    init(hello: PeerHello, message: Message, descriptor: Int32, finished: @escaping @Sendable (Bool) -> Void) {
        self.hello = hello
        self.message = message
        self.descriptor = descriptor
        self.finished = finished
    }

    func connectFailed() { finish(false) }

    private func finish(_ success: Bool) {
        guard !done else { return }
        done = true
        close(descriptor)
        finished(success)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(PeerFrame.buffer(.hello, hello.encoded(), allocator: context.channel.allocator)),
                      promise: nil)
        var writer = WireWriter()
        RaftMessageCodec.encode(message, into: &writer)
        context.write(wrapOutboundOut(PeerFrame.buffer(.snapshotHeader, writer.bytes, allocator: context.channel.allocator)),
                      promise: nil)
        writeNextChunk(context: context)
        context.fireChannelActive()
    }

    typealias OutboundOut = ByteBuffer

    private func writeNextChunk(context: ChannelHandlerContext) {
        var chunk = [UInt8](repeating: 0, count: PeerTransport.snapshotChunkBytes)
        let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        if count < 0 {
            context.close(promise: nil)
            return
        }
        if count == 0 {
            context.writeAndFlush(wrapOutboundOut(PeerFrame.buffer(.snapshotEnd, [], allocator: context.channel.allocator)),
                                  promise: nil)
            return
        }
        offset += Int64(count)
        chunk.removeSubrange(count...)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(PeerFrame.buffer(.snapshotChunk, chunk, allocator: context.channel.allocator)))
            .whenSuccess { self.writeNextChunk(context: loopBound.value) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.kind == .accepted { return }
        finish(frame.kind == .snapshotDone)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

// MARK: - Outgoing request

final class PeerRequestCaller: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = PeerFrame
    typealias OutboundOut = ByteBuffer
    private let hello: PeerHello
    private let request: [UInt8]
    private let promise: EventLoopPromise<PeerFrame>

    init(hello: PeerHello, request: [UInt8], promise: EventLoopPromise<PeerFrame>) {
        self.hello = hello
        self.request = request
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(PeerFrame.buffer(.hello, hello.encoded(), allocator: context.channel.allocator)),
                      promise: nil)
        context.writeAndFlush(wrapOutboundOut(PeerFrame.buffer(.request, request, allocator: context.channel.allocator)),
                              promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.kind == .accepted { return }
        promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ServerError(.unavailable, "etcdserver: peer closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

// MARK: - Inbound connections

/// The accepting side of every peer connection: checks the hello, then serves the stream it names.
final class PeerServerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = PeerFrame
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHello
        case raft
        case snapshot(message: Message?, path: String?, descriptor: Int32)
        case request
        case finished
    }

    private let transport: PeerTransport
    private var state = State.awaitingHello

    init(transport: PeerTransport) { self.transport = transport }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        do {
            switch state {
            case .awaitingHello:
                guard frame.kind == .hello else { throw PeerWireError.malformed("expected a hello") }
                let hello = try PeerHello(decoding: frame.payload)
                if let (refusal, reason) = transport.refusal(for: hello) {
                    transport.log("rafthttp: refused a \(hello.stream) stream from \(hex(hello.from)): \(reason)", level: .warning)
                    reply(context, .refused, [refusal.rawValue] + Array(reason.utf8))
                    context.close(promise: nil)
                    state = .finished
                    return
                }
                reply(context, .accepted, [])
                switch hello.stream {
                case .raft: state = .raft
                case .snapshot: state = .snapshot(message: nil, path: nil, descriptor: -1)
                case .request: state = .request
                }
            case .raft:
                guard frame.kind == .raftMessages else { throw PeerWireError.malformed("expected raft messages") }
                let messages = try RaftMessageCodec.decode(frame.payload)
                transport.delegate?.peerMessagesReceived(messages)
            case .snapshot(let message, let path, let descriptor):
                try receiveSnapshot(frame, message: message, path: path, descriptor: descriptor, context: context)
            case .request:
                guard frame.kind == .request, let kindByte = frame.payload.first,
                      let kind = PeerRequestKind(rawValue: kindByte) else {
                    throw PeerWireError.malformed("expected a request")
                }
                let body = Array(frame.payload.dropFirst())
                let channel = context.channel
                let transport = transport
                Task {
                    let result = await transport.delegate?.peerRequest(kind: kind, body: body)
                        ?? .failure(.stopped)
                    channel.writeAndFlush(PeerFrame.buffer(.response, PeerResponse.encode(result), allocator: channel.allocator),
                                          promise: nil)
                }
            case .finished:
                break
            }
        } catch {
            transport.log("rafthttp: closing a peer connection: \(error)", level: .warning)
            abandonSnapshot()
            context.close(promise: nil)
        }
    }

    private func receiveSnapshot(_ frame: PeerFrame, message: Message?, path: String?, descriptor: Int32,
                                 context: ChannelHandlerContext) throws {
        switch frame.kind {
        case .snapshotHeader:
            guard message == nil else { throw PeerWireError.malformed("second snapshot header") }
            var reader = WireReader(frame.payload)
            let decoded = try RaftMessageCodec.decode(from: &reader)
            guard decoded.type == .snapshot, decoded.snapshot != nil else { throw PeerWireError.malformed("not a snapshot message") }
            let path = transport.newReceivingPath()
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw ServerError(.internalError, "cannot create \(path)") }
            state = .snapshot(message: decoded, path: path, descriptor: descriptor)
        case .snapshotChunk:
            guard message != nil, descriptor >= 0 else { throw PeerWireError.malformed("chunk before header") }
            let written = frame.payload.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == frame.payload.count else { throw ServerError(.internalError, "short write of a received snapshot") }
        case .snapshotEnd:
            guard let message, let path, descriptor >= 0 else { throw PeerWireError.malformed("end before header") }
            close(descriptor)
            state = .finished
            let channel = context.channel
            let transport = transport
            Task {
                let refusal: String?
                if let delegate = transport.delegate {
                    refusal = await delegate.peerSnapshotReceived(message, path: path)
                } else {
                    refusal = "stopping"
                }
                let frame: ByteBuffer
                if let refusal {
                    unlink(path)
                    frame = PeerFrame.buffer(.refused, [PeerRefusal.failed.rawValue] + Array(refusal.utf8),
                                             allocator: channel.allocator)
                } else {
                    frame = PeerFrame.buffer(.snapshotDone, [], allocator: channel.allocator)
                }
                channel.writeAndFlush(frame, promise: nil)
            }
        default:
            throw PeerWireError.malformed("unexpected frame on a snapshot stream")
        }
    }

    private func abandonSnapshot() {
        if case .snapshot(_, let path, let descriptor) = state, descriptor >= 0 {
            close(descriptor)
            if let path { unlink(path) }
        }
        state = .finished
    }

    private func reply(_ context: ChannelHandlerContext, _ kind: PeerFrameKind, _ payload: [UInt8]) {
        context.writeAndFlush(wrapOutboundOut(PeerFrame.buffer(kind, payload, allocator: context.channel.allocator)),
                              promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonSnapshot()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS handshake failures (an untrusted peer) land here, among others.
        transport.log("rafthttp: closing a peer connection from \(context.remoteAddress.map { "\($0)" } ?? "?"): \(error)",
                      level: .warning)
        abandonSnapshot()
        context.close(promise: nil)
    }
}
