import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Serves gRPC calls on one HTTP/2 connection, directly on `NIOHTTP2Handler`'s frames: each
/// call is an entry in a dictionary of this handler, not a child channel with its own pipeline,
/// and a unary call costs no task unless its method asks for one. Every piece of stream state is
/// touched on the connection's event loop only.
///
/// What it does of gRPC over HTTP/2: length-prefixed messages without compression, status and
/// message in trailers (or trailers-only answers), flow-control window updates for what it has
/// read, cancellation by RST_STREAM or a closed connection, and a graceful close.
final class GRPCConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private struct Stream {
        let call: GRPCServerCall
        let entry: GRPCMethodTable.Entry
        /// Bytes of a message not yet complete.
        var partial: ByteBuffer?
        /// For streaming methods: where request messages go.
        var requests: AsyncThrowingStream<[UInt8], any Error>.Continuation?
        var requestReceived = false
        var headersSent = false
        var finished = false
    }

    private let table: GRPCMethodTable
    private let configuration: GRPCListener.Configuration
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var lastStreamID = HTTP2StreamID.rootStream
    /// Closing once no call is left.
    private var goingAway = false
    private var closing = false
    private let flusher = FlushCoalescer()
    private let windows: InboundWindows
    /// Made with the first call.
    private var outbox: ConnectionOutbox?

    private static let responseHeaders: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
    private static let okTrailers: HPACKHeaders = ["grpc-status": "0"]

    init(table: GRPCMethodTable, configuration: GRPCListener.Configuration) {
        self.table = table
        self.configuration = configuration
        windows = InboundWindows(streamBytes: configuration.streamWindowBytes,
                                 connectionBytes: configuration.connectionWindowBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flusher.readBegan()
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if streams[frame.streamID] != nil {
                // gRPC clients send no trailers; an END_STREAM on HEADERS just half-closes.
                if headers.endStream { requestsEnded(frame.streamID) }
            } else {
                startCall(frame.streamID, headers: headers.headers, endStream: headers.endStream)
            }
        case .data(let data):
            guard case .byteBuffer(let buffer) = data.data else { break }
            received(frame.streamID, buffer, endStream: data.endStream)
        case .rstStream:
            cancelCall(frame.streamID)
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
            cancelCall(closed.streamID)
        case let window as NIOHTTP2WindowUpdatedEvent:
            guard let update = windows.update(for: window, streamIsOpen: streams[window.streamID] != nil) else { break }
            context.write(wrapOutboundOut(update), promise: nil)
            flusher.wrote(context)
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for id in Array(streams.keys) { cancelCall(id) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream errors (a write to a stream the client reset, say) concern one call, which has
        // already been told; connection errors make NIOHTTP2Handler close the connection.
    }

    private func startCall(_ id: HTTP2StreamID, headers: HPACKHeaders, endStream: Bool) {
        guard let context, id > lastStreamID else { return }
        lastStreamID = id
        let path = headers.first(name: ":path") ?? ""
        guard let entry = table.entries[path] else {
            answerOnly(id, status: table.unknown(path: path))
            return
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            answerOnly(id, status: RPCError(code: .unimplemented,
                                            message: "grpc: Decompressor is not installed for grpc-encoding \"\(encoding)\""))
            table.completion(entry.name, entry.kind, .unimplemented)
            return
        }
        if let refusal = table.admission(entry.name) {
            answerOnly(id, status: refusal)
            table.completion(entry.name, entry.kind, refusal.code)
            return
        }
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let outbox = self.outbox ?? ConnectionOutbox(eventLoop: context.eventLoop)
        self.outbox = outbox
        let call = GRPCServerCall(name: entry.name, eventLoop: context.eventLoop, connection: connection,
                                  outbox: outbox, streamID: id, errorMapping: table.errorMapping)
        var stream = Stream(call: call, entry: entry)
        if let start = entry.stream {
            let (requests, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            stream.requests = continuation
            // Clients may wait for the headers before they send (or before a stream counts as open).
            writeResponseHeaders(id, context)
            stream.headersSent = true
            scheduleFlush()
            streams[id] = stream
            start(call, requests)
        } else {
            streams[id] = stream
        }
        if endStream { requestsEnded(id) }
    }

    private func received(_ id: HTTP2StreamID, _ buffer: ByteBuffer, endStream: Bool) {
        guard var stream = streams[id], !stream.finished else { return }
        var bytes = buffer
        if var partial = stream.partial {
            // Released from the stream first, so that appending does not copy it each time.
            stream.partial = nil
            streams[id]?.partial = nil
            partial.writeBuffer(&bytes)
            bytes = partial
        }
        var messages: [[UInt8]] = []
        var refusal: RPCError?
        while bytes.readableBytes >= 5 {
            let compressed = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) ?? 0
            let length = Int(bytes.getInteger(at: bytes.readerIndex + 1, as: UInt32.self) ?? 0)
            if compressed != 0 {
                refusal = RPCError(code: .internalError,
                                   message: "grpc: compressed flag set with identity or empty encoding")
                break
            }
            if length > configuration.maximumReceiveMessageBytes {
                refusal = RPCError(code: .resourceExhausted,
                                   message: "grpc: received message larger than max (\(length) vs. \(configuration.maximumReceiveMessageBytes))")
                break
            }
            guard bytes.readableBytes >= 5 + length else { break }
            bytes.moveReaderIndex(forwardBy: 5)
            messages.append(bytes.readBytes(length: length) ?? [])
        }
        stream.partial = bytes.readableBytes > 0 ? bytes : nil
        streams[id] = stream
        if let refusal {
            finish(streamID: id, message: nil, status: refusal)
            return
        }
        for message in messages {
            if let requests = stream.requests {
                requests.yield(message)
            } else if !stream.requestReceived {
                stream.requestReceived = true
                streams[id]?.requestReceived = true
                // May answer at once, re-entering `finish`.
                stream.entry.unary?(message, stream.call)
            }
        }
        if endStream { requestsEnded(id) }
    }

    /// The client half-closed its side.
    private func requestsEnded(_ id: HTTP2StreamID) {
        guard let stream = streams[id], !stream.finished else { return }
        if let requests = stream.requests {
            requests.finish()
        } else if !stream.requestReceived {
            finish(streamID: id, message: nil, status: RPCError(code: .internalError,
                                                                message: "grpc: the client sent no request message"))
        }
    }

    private func cancelCall(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if !stream.finished {
            stream.requests?.finish(throwing: CancellationError())
            stream.call.cancel()
            table.completion(stream.entry.name, stream.entry.kind, .cancelled)
        }
        closeIfDrained()
    }

    // MARK: Outbound (on the event loop)

    func send(streamID id: HTTP2StreamID, message: [UInt8], promise: EventLoopPromise<Void>) {
        guard let context, let stream = streams[id], !stream.finished else {
            promise.fail(CancellationError())
            return
        }
        if !stream.headersSent {
            streams[id]?.headersSent = true
            writeResponseHeaders(id, context)
        }
        writeMessage(id, message, context, promise: promise)
        scheduleFlush()
    }

    /// Ends a call: an optional last message, then the status (nil: OK).
    func finish(streamID id: HTTP2StreamID, message: [UInt8]?, status: RPCError?) {
        guard let context, let stream = streams[id], !stream.finished else { return }
        // Recorded before writing: the write that ends the stream reports its closing at once
        // (a StreamClosedEvent, re-entering `cancelCall`), which must see a finished call.
        streams[id]?.finished = true
        streams[id]?.headersSent = true
        stream.requests?.finish()
        table.completion(stream.entry.name, stream.entry.kind, status?.code)
        if !stream.headersSent && message == nil {
            return answerOnly(id, status: status ?? RPCError(code: .unknown, message: ""))
        }
        if !stream.headersSent { writeResponseHeaders(id, context) }
        if let message { writeMessage(id, message, context, promise: nil) }
        let trailers = status.map(Self.trailers) ?? Self.okTrailers
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))),
                      promise: nil)
        scheduleFlush()
    }

    /// A trailers-only answer: one HEADERS frame that ends the stream.
    private func answerOnly(_ id: HTTP2StreamID, status: RPCError) {
        guard let context else { return }
        var headers = Self.responseHeaders
        headers.add(contentsOf: Self.trailers(status))
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true)))),
                      promise: nil)
        scheduleFlush()
    }

    private static func trailers(_ status: RPCError) -> HPACKHeaders {
        var headers: HPACKHeaders = ["grpc-status": String(status.code.rawValue)]
        if !status.message.isEmpty { headers.add(name: "grpc-message", value: percentEncoded(status.message)) }
        return headers
    }

    /// gRPC's encoding of `grpc-message`: printable ASCII other than `%` as is, every other byte as `%XX`.
    static func percentEncoded(_ message: String) -> String {
        var out = ""
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    private func writeResponseHeaders(_ id: HTTP2StreamID, _ context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: Self.responseHeaders)))),
                      promise: nil)
    }

    /// One message in gRPC's framing: uncompressed, its length, its bytes.
    private func writeMessage(_ id: HTTP2StreamID, _ message: [UInt8], _ context: ChannelHandlerContext,
                              promise: EventLoopPromise<Void>?) {
        var buffer = context.channel.allocator.buffer(capacity: 5 + message.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(buffer))))),
                      promise: promise)
    }

    private func scheduleFlush() {
        if let context { flusher.wrote(context) }
    }

    // MARK: Shutdown

    /// Lets the calls in flight finish, then says GOAWAY and closes. The GOAWAY waits for them:
    /// grpc-swift's 2.x client closed its connection on a GOAWAY with a call still running.
    func beginGracefulShutdown() {
        guard !goingAway else { return }
        goingAway = true
        closeIfDrained()
    }

    private func closeIfDrained() {
        guard goingAway, !closing, let context, streams.values.allSatisfy(\.finished) else { return }
        closing = true
        // Queued: this may run inside the write of a call's last frame, which must go out first.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            guard let context = handler.context else { return }
            let goAway = HTTP2Frame(streamID: .rootStream,
                                    payload: .goAway(lastStreamID: handler.lastStreamID, errorCode: .noError, opaqueData: nil))
            let channel = context.channel
            context.writeAndFlush(handler.wrapOutboundOut(goAway)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
