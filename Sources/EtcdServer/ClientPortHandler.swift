import HTTP2PingResponder
import NIOCore

/// A plain HTTP answer of the client port (`/health`, `/version`, `/metrics`).
package struct HTTPAnswer: Sendable {
    package var status: Int
    package var reason: String
    package var contentType: String
    package var body: String
    package var extraHeaders: [(String, String)] = []

    package init(status: Int, reason: String, contentType: String, body: String) {
        self.status = status
        self.reason = reason
        self.contentType = contentType
        self.body = body
    }
}

/// The first handler of every client connection: gRPC and HTTP/1.1 share the client port, as
/// in etcd (which uses cmux). It looks at the first bytes: the HTTP/2 connection preface means
/// gRPC, and it then stays in the pipeline only as a `PingResponder`; anything else is read as an
/// HTTP/1.1 request, answered here, and the connection is closed.
///
/// The gRPC handlers behind it write their HTTP/2 SETTINGS as soon as the connection opens; those
/// bytes are held here until the client has shown which protocol it speaks, and dropped for an
/// HTTP/1 client (they would precede its response).
final class ClientPortHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// Most bytes of request line and headers read before giving up on an HTTP/1 request.
    private static let maximumHeaderBytes = 16 << 10

    private enum Mode {
        case detecting
        /// gRPC, for the moment between detection and leaving the pipeline: the first bytes are
        /// being read behind, and what the handlers behind write meanwhile must go out.
        case grpc
        case http1
        case answered
    }

    private var mode = Mode.detecting
    private var buffered: ByteBuffer?
    /// Writes from the handlers behind, held while detecting.
    private var heldWrites: [(NIOAny, EventLoopPromise<Void>?)] = []
    private var heldFlush = false
    private let answer: @Sendable (_ method: String, _ target: String) async -> HTTPAnswer

    init(answer: @escaping @Sendable (_ method: String, _ target: String) async -> HTTPAnswer) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var held = buffered {
            held.writeBuffer(&incoming)
            incoming = held
            buffered = nil
        }
        switch mode {
        case .detecting:
            let count = min(incoming.readableBytes, Self.preface.count)
            let head = incoming.getBytes(at: incoming.readerIndex, length: count) ?? []
            if head == Array(Self.preface[..<count]) {
                guard count == Self.preface.count else {
                    buffered = incoming
                    return
                }
                // gRPC: hand over to the ping responder and the HTTP/2 handlers behind it.
                let responder = PingResponder(prefaceLength: Self.preface.count)
                do {
                    try context.pipeline.syncOperations.addHandler(responder, position: .after(self))
                } catch {
                    context.close(promise: nil)
                    return
                }
                mode = .grpc
                let held = heldWrites
                heldWrites = []
                for (data, promise) in held { context.write(data, promise: promise) }
                if heldFlush || !held.isEmpty { context.flush() }
                // Forwarded before leaving the pipeline: a removed handler's context forwards nothing.
                context.fireChannelRead(wrapInboundOut(incoming))
                context.pipeline.syncOperations.removeHandler(self, promise: nil)
                return
            }
            mode = .http1
            for (_, promise) in heldWrites { promise?.succeed() }
            heldWrites = []
            readHTTP1(context: context, incoming)
        case .http1:
            readHTTP1(context: context, incoming)
        case .grpc:
            context.fireChannelRead(wrapInboundOut(incoming))
        case .answered:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .detecting: heldWrites.append((data, promise))
        case .grpc: context.write(data, promise: promise)
        // The gRPC side has nothing to say to an HTTP/1 client.
        case .http1, .answered: promise?.succeed()
        }
    }

    func flush(context: ChannelHandlerContext) {
        switch mode {
        case .detecting: heldFlush = true
        case .grpc: context.flush()
        case .http1, .answered: break
        }
    }

    private func readHTTP1(context: ChannelHandlerContext, _ incoming: ByteBuffer) {
        let bytes = incoming.getBytes(at: incoming.readerIndex, length: incoming.readableBytes) ?? []
        guard let end = Self.headerEnd(bytes) else {
            if bytes.count > Self.maximumHeaderBytes {
                respond(context: context, HTTPAnswer(status: 431, reason: "Request Header Fields Too Large",
                                                     contentType: "text/plain", body: ""))
            } else {
                buffered = incoming
            }
            return
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let requestLine = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            respond(context: context, HTTPAnswer(status: 400, reason: "Bad Request", contentType: "text/plain",
                                                 body: "400 Bad Request"))
            return
        }
        mode = .answered
        let method = String(parts[0])
        let target = String(parts[1])
        let answer = answer
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let response = await answer(method, target)
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.respond(context: context, response)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, _ answer: HTTPAnswer) {
        mode = .answered
        let body = Array(answer.body.utf8)
        var head = "HTTP/1.1 \(answer.status) \(answer.reason)\r\n"
        head += "Content-Type: \(answer.contentType)\r\n"
        for (name, value) in answer.extraHeaders { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
