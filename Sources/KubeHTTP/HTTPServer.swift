import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 request, its body read whole.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The path, percent-decoded, without the query.
    public var path: String
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]

    init(head: HTTPRequestHead, body: [UInt8]) {
        method = head.method
        headers = head.headers
        self.body = body
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "").removingPercentEncoding ?? String(parts.first ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (text: Substring) in
                    text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
                }
                query[decode(keyValue[0])] = keyValue.count > 1 ? decode(keyValue[1]) : ""
            }
        }
        self.query = query
    }
}

/// An answer: a whole body, or a stream of chunks (a watch) that ends when the sequence does.
public enum HTTPResponse: Sendable {
    case full(status: HTTPResponseStatus, contentType: String, body: [UInt8])
    case stream(contentType: String, chunks: AsyncStream<[UInt8]>)
}

/// A plain HTTP/1.1 server on SwiftNIO: each connection's requests are handled one after another
/// by `handler`, keep-alive as the client asks.
public struct HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    /// The port bound (useful when asked for port 0).
    public var port: Int { channel.channel.localAddress?.port ?? 0 }

    public static func bind(host: String, port: Int) async throws -> HTTPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return HTTPServer(channel: channel)
    }

    /// Serves until the task is cancelled.
    public func run(_ handler: @escaping Handler) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await Self.serve(connection, handler) }
                }
            }
        }
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              _ handler: Handler) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body = []
                case .body(let buffer):
                    body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    guard let requestHead = head else { continue }
                    let keepAlive = requestHead.isKeepAlive
                    let response = await handler(HTTPRequest(head: requestHead, body: body))
                    try await write(response, to: outbound, version: requestHead.version, keepAlive: keepAlive)
                    if !keepAlive { return }
                    if case .stream = response { return }
                }
            }
        }
    }

    private static func write(_ response: HTTPResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                              version: HTTPVersion, keepAlive: Bool) async throws {
        switch response {
        case .full(let status, let contentType, let body):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
            headers.add(name: "Cache-Control", value: "no-cache, private")
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
            if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
        case .stream(let contentType, let chunks):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Transfer-Encoding", value: "chunked")
            headers.add(name: "Cache-Control", value: "no-cache, private")
            try await outbound.write(.head(HTTPResponseHead(version: version, status: .ok, headers: headers)))
            for await chunk in chunks {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
            }
            try await outbound.write(.end(nil))
        }
    }
}
