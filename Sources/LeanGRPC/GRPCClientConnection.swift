import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import SwiftProtobuf

/// One plaintext HTTP/2 connection making gRPC calls, the client twin of
/// `GRPCConnectionHandler`: a call is an entry of one handler and a continuation (or, for a
/// stream, a callback), with no per-call channel or task. For the load tool, whose own cost per
/// request is shared with the server under test on the same cores; it has no retries, deadlines
/// or TLS.
public final class GRPCClientConnection: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<GRPCClientHandler>

    private init(channel: any Channel, handler: NIOLoopBound<GRPCClientHandler>) {
        self.channel = channel
        self.handler = handler
    }

    public static func connect(host: String, port: Int,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> GRPCClientConnection {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .initialWindowSize, value: GRPCClientHandler.streamWindowBytes),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
        // Go's gRPC servers (every etcd) PING for bandwidth estimation after nearly every
        // response; the default limit (200 control frames in 30 s) would end the connection.
        configuration.controlFrameRateLimit.maximumCount = .max
        let http2Configuration = configuration
        let authority = "\(host):\(port)"
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOHTTP2Handler(mode: .client, connectionConfiguration: http2Configuration, streamConfiguration: .init()))
                    try channel.pipeline.syncOperations.addHandler(GRPCClientHandler(authority: authority))
                }
            }
            .connect(host: host, port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: GRPCClientHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return GRPCClientConnection(channel: channel, handler: handler)
    }

    /// Calls `path` (`/<service>/<method>`) with one request; throws the server's status as an
    /// `RPCError`.
    public func unary<Request: Message & Sendable, Response: Message & Sendable>(
        _ path: String, _ request: Request, as _: Response.Type = Response.self
    ) async throws -> Response {
        let bytes: [UInt8] = try request.serializedBytes()
        let handler = handler
        let reply: [UInt8] = try await withCheckedThrowingContinuation { continuation in
            channel.eventLoop.execute { handler.value.start(path: path, message: bytes, continuation: continuation) }
        }
        return try Response(serializedBytes: reply)
    }

    /// Opens a streaming call on `path` and sends `request` on it, leaving the request side
    /// open for more (`send`). Every response message goes to `onMessage`, and the call's end
    /// (nil: status OK) to `onEnd`, on the connection's event loop: both must be quick. Returns
    /// once the request is written; the call lasts until the server ends it or the connection
    /// closes.
    @discardableResult
    public func openStream<Request: Message & Sendable>(
        _ path: String, _ request: Request,
        onMessage: @escaping @Sendable ([UInt8]) -> Void,
        onEnd: @escaping @Sendable (RPCError?) -> Void
    ) async throws -> GRPCClientStream {
        let bytes: [UInt8] = try request.serializedBytes()
        let handler = handler
        let receiver = GRPCClientHandler.StreamReceiver(onMessage: onMessage, onEnd: onEnd)
        let id = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTP2StreamID, any Error>) in
            channel.eventLoop.execute {
                handler.value.startStream(path: path, message: bytes, receiver: receiver, opened: continuation)
            }
        }
        return GRPCClientStream(id: id)
    }

    /// Sends one more request on a stream this connection opened; returns once it is written.
    public func send<Request: Message & Sendable>(_ request: Request, on stream: GRPCClientStream) async throws {
        let bytes: [UInt8] = try request.serializedBytes()
        let handler = handler
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            channel.eventLoop.execute { handler.value.send(message: bytes, on: stream.id, written: continuation) }
        }
    }

    public func close() async {
        try? await channel.close()
    }
}

/// A streaming call of a `GRPCClientConnection`.
public struct GRPCClientStream: Sendable {
    let id: HTTP2StreamID
}

final class GRPCClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    static let streamWindowBytes = 1 << 20
    static let connectionWindowBytes = 4 << 20

    /// Where a streaming call's responses go.
    struct StreamReceiver: Sendable {
        let onMessage: @Sendable ([UInt8]) -> Void
        let onEnd: @Sendable (RPCError?) -> Void
    }

    private enum Answer {
        case unary(CheckedContinuation<[UInt8], any Error>)
        case stream(StreamReceiver)
    }

    private struct Call {
        let answer: Answer
        var received: ByteBuffer?
    }

    private let authority: String
    private var context: ChannelHandlerContext?
    private var calls: [HTTP2StreamID: Call] = [:]
    private var nextStreamID: HTTP2StreamID = 1
    private var active = false
    private let flusher = FlushCoalescer()
    private let windows = InboundWindows(streamBytes: GRPCClientHandler.streamWindowBytes,
                                         connectionBytes: GRPCClientHandler.connectionWindowBytes)

    init(authority: String) {
        self.authority = authority
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        active = context.channel.isActive
    }

    func channelActive(context: ChannelHandlerContext) {
        active = true
        context.fireChannelActive()
    }

    func start(path: String, message: [UInt8], continuation: CheckedContinuation<[UInt8], any Error>) {
        guard active, send(path: path, message: message, endStream: true, answer: .unary(continuation)) != nil else {
            return continuation.resume(throwing: RPCError(code: .unavailable, message: "connection closed"))
        }
    }

    func startStream(path: String, message: [UInt8], receiver: StreamReceiver,
                     opened: CheckedContinuation<HTTP2StreamID, any Error>) {
        guard active, let (id, written) = send(path: path, message: message, endStream: false, answer: .stream(receiver)) else {
            return opened.resume(throwing: RPCError(code: .unavailable, message: "connection closed"))
        }
        written.futureResult.whenComplete { result in opened.resume(with: result.map { id }) }
    }

    func send(message: [UInt8], on id: HTTP2StreamID, written: CheckedContinuation<Void, any Error>) {
        guard let context, active, calls[id] != nil else {
            return written.resume(throwing: RPCError(code: .unavailable, message: "stream closed"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in written.resume(with: result) }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(framed(message, context)))))),
                      promise: promise)
        scheduleFlush()
    }

    /// `message` in gRPC's framing: uncompressed, its length, its bytes.
    private func framed(_ message: [UInt8], _ context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 5 + message.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        return buffer
    }

    /// Opens a stream with `message` as its first request: its id, and the promise of that
    /// message's write.
    private func send(path: String, message: [UInt8], endStream: Bool, answer: Answer)
        -> (id: HTTP2StreamID, written: EventLoopPromise<Void>)?
    {
        guard let context else { return nil }
        let id = nextStreamID
        nextStreamID = id.advanced(by: 2)
        calls[id] = Call(answer: answer)
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        let buffer = framed(message, context)
        // A frame HTTP/2 refuses to send ends its call; nothing else would.
        let written = context.eventLoop.makePromise(of: Void.self)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenFailure { error in
            bound.value.fail(id, RPCError(code: .unavailable, message: "request not sent: \(error)"))
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(buffer), endStream: endStream)))),
                      promise: written)
        scheduleFlush()
        return (id, written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flusher.readBegan()
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            // Response headers carry no status; trailers (or a trailers-only answer) do.
            if let status = headers.headers.first(name: "grpc-status") {
                complete(frame.streamID, status: Int(status) ?? 2, message: headers.headers.first(name: "grpc-message"))
            }
        case .data(let data):
            guard case .byteBuffer(var buffer) = data.data, calls[frame.streamID] != nil else { break }
            if var received = calls[frame.streamID]?.received {
                // Released from the call first, so that appending does not copy it each time.
                calls[frame.streamID]?.received = nil
                received.writeBuffer(&buffer)
                calls[frame.streamID]?.received = received
            } else {
                calls[frame.streamID]?.received = buffer
            }
            if case .stream(let receiver) = calls[frame.streamID]?.answer { deliverMessages(frame.streamID, to: receiver) }
        case .rstStream(let code):
            fail(frame.streamID, RPCError(code: .unavailable, message: "stream reset by the server: \(code)"))
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flusher.readEnded(context)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let closed as StreamClosedEvent:
            fail(closed.streamID, RPCError(code: .unavailable, message: "stream closed without a status"))
        case let window as NIOHTTP2WindowUpdatedEvent:
            guard let update = windows.update(for: window, streamIsOpen: calls[window.streamID] != nil) else { break }
            context.write(wrapOutboundOut(update), promise: nil)
            flusher.wrote(context)
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        for id in Array(calls.keys) { fail(id, RPCError(code: .unavailable, message: "connection closed")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream errors end their call through StreamClosedEvent; connection errors close it.
    }

    /// Hands a streaming call's complete messages to its receiver.
    private func deliverMessages(_ id: HTTP2StreamID, to receiver: StreamReceiver) {
        guard var received = calls[id]?.received else { return }
        calls[id]?.received = nil
        while received.readableBytes >= 5,
              let length = received.getInteger(at: received.readerIndex + 1, as: UInt32.self),
              received.readableBytes >= 5 + Int(length) {
            received.moveReaderIndex(forwardBy: 5)
            receiver.onMessage(received.readBytes(length: Int(length)) ?? [])
        }
        if received.readableBytes > 0 { calls[id]?.received = received }
    }

    private func complete(_ id: HTTP2StreamID, status: Int, message: String?) {
        guard let call = calls.removeValue(forKey: id) else { return }
        let error = status == 0 ? nil
            : RPCError(code: RPCError.Code(rawStatus: status), message: message.map(Self.percentDecoded) ?? "")
        switch call.answer {
        case .stream(let receiver):
            receiver.onEnd(error)
        case .unary(let continuation):
            if let error { return continuation.resume(throwing: error) }
            guard var received = call.received, received.readableBytes >= 5,
                  received.readInteger(as: UInt8.self) == 0, let length = received.readInteger(as: UInt32.self),
                  let bytes = received.readBytes(length: Int(length)) else {
                return continuation.resume(throwing: RPCError(code: .internalError, message: "malformed or missing response message"))
            }
            continuation.resume(returning: bytes)
        }
    }

    private func fail(_ id: HTTP2StreamID, _ error: RPCError) {
        switch calls.removeValue(forKey: id)?.answer {
        case .unary(let continuation): continuation.resume(throwing: error)
        case .stream(let receiver): receiver.onEnd(error)
        case nil: break
        }
    }

    private func scheduleFlush() {
        if let context { flusher.wrote(context) }
    }

    /// The inverse of `grpc-message`'s percent-encoding.
    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
