import NIOCore
import NIOHTTP1
import NIOPosix

/// A plain HTTP/1.1 GET whose answer's body arrives as a stream: the apiserver's proxy to a node
/// agent (`kubectl logs`, also with `--follow`).
public enum HTTPClient {
    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        /// The body as it arrives; ends with the answer (or the connection). Dropping the stream
        /// closes the connection.
        public var body: AsyncStream<[UInt8]>
    }

    private enum Part: Sendable {
        case head(HTTPResponseHead)
        case body([UInt8])
    }

    public static func get(host: String, port: Int, uri: String) async throws -> Response {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let (parts, partsContinuation) = AsyncThrowingStream<Part, any Error>.makeStream()
        let exchange = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)))
                    try await outbound.write(.end(nil))
                    for try await part in inbound {
                        switch part {
                        case .head(let head): partsContinuation.yield(.head(head))
                        case .body(let buffer): partsContinuation.yield(.body(Array(buffer.readableBytesView)))
                        case .end: return
                        }
                    }
                }
                partsContinuation.finish()
            } catch {
                partsContinuation.finish(throwing: error)
            }
        }
        var iterator = parts.makeAsyncIterator()
        guard case .head(let head)? = try await iterator.next() else {
            exchange.cancel()
            throw ChannelError.inputClosed
        }
        let (body, bodyContinuation) = AsyncStream<[UInt8]>.makeStream()
        let forward = Task {
            while let part = try? await iterator.next() {
                if case .body(let bytes) = part { bodyContinuation.yield(bytes) }
            }
            bodyContinuation.finish()
        }
        bodyContinuation.onTermination = { _ in
            forward.cancel()
            exchange.cancel()
        }
        return Response(status: head.status, contentType: head.headers.first(name: "Content-Type") ?? "text/plain", body: body)
    }
}
