import NIOCore

/// Answers the peer's HTTP/2 PING frames below the HTTP/2 handler, so that swift-nio-http2 never
/// counts them. Used on both sides: our client facing Go's etcd, and our server facing Go's clients
/// (etcdctl, Kubernetes), which ping the same way.
///
/// Why: Go's gRPC sends a bandwidth-estimation PING after nearly every message it receives. swift-nio-http2 treats more than 200 inbound control frames in 30 seconds as a
/// denial-of-service attempt and closes the connection with ENHANCE_YOUR_CALM, failing the calls in
/// flight, and grpc-swift-nio-transport 2.9 offers no way to raise that limit. So at more than about
/// 7 requests per second one connection to etcd breaks every 200 requests. This handler sits first in
/// the connection's pipeline, splits the inbound byte stream at HTTP/2 frame boundaries, answers
/// each non-ACK PING with its ACK (echoing the payload, as RFC 9113 section 6.7 requires) and passes
/// every other byte through untouched. Remove it once the transport exposes
/// `NIOHTTP2Handler.ConnectionConfiguration.controlFrameRateLimit`.
public final class PingResponder: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private static let frameHeaderLength = 9
    private static let pingType: UInt8 = 0x6
    private static let ackFlag: UInt8 = 0x1
    private static let pingPayloadLength = 8

    /// Bytes of the current non-PING frame still to pass through before the next frame header.
    private var passThroughRemaining: Int
    /// Bytes received but not yet classified (an incomplete frame header or PING frame).
    private var pending: ByteBuffer?

    /// - Parameter prefaceLength: bytes to pass through before the first frame: 0 on a client, the
    ///   24-byte connection preface on a server.
    public init(prefaceLength: Int = 0) {
        passThroughRemaining = prefaceLength
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var held = pending {
            held.writeBuffer(&incoming)
            incoming = held
            pending = nil
        }
        var forward = context.channel.allocator.buffer(capacity: incoming.readableBytes)
        var answeredPing = false
        while incoming.readableBytes > 0 {
            if passThroughRemaining > 0 {
                let count = min(passThroughRemaining, incoming.readableBytes)
                var slice = incoming.readSlice(length: count)!
                forward.writeBuffer(&slice)
                passThroughRemaining -= count
                continue
            }
            guard incoming.readableBytes >= Self.frameHeaderLength,
                  let lengthBytes = incoming.getBytes(at: incoming.readerIndex, length: 3),
                  let type = incoming.getInteger(at: incoming.readerIndex + 3, as: UInt8.self),
                  let flags = incoming.getInteger(at: incoming.readerIndex + 4, as: UInt8.self)
            else {
                pending = incoming.readSlice(length: incoming.readableBytes)
                break
            }
            let length = Int(lengthBytes[0]) << 16 | Int(lengthBytes[1]) << 8 | Int(lengthBytes[2])
            let isPingRequest = type == Self.pingType && flags & Self.ackFlag == 0 && length == Self.pingPayloadLength
            guard isPingRequest else {
                passThroughRemaining = Self.frameHeaderLength + length
                continue
            }
            guard incoming.readableBytes >= Self.frameHeaderLength + length else {
                pending = incoming.readSlice(length: incoming.readableBytes)
                break
            }
            var ping = incoming.readSlice(length: Self.frameHeaderLength + length)!
            var ack = context.channel.allocator.buffer(capacity: ping.readableBytes)
            ack.writeBuffer(&ping)
            ack.setInteger(Self.ackFlag, at: ack.readerIndex + 4)
            context.write(wrapOutboundOut(ack), promise: nil)
            answeredPing = true
        }
        if answeredPing { context.flush() }
        if forward.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(forward)) }
    }
}
