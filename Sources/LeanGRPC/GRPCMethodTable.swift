import GRPCCore
import NIOCore
import SwiftProtobuf

/// A method's name as gRPC's path spells it: `/<service>/<method>`.
public struct GRPCMethodName: Sendable, Hashable {
    public let service: String
    public let method: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    public var path: String { "/\(service)/\(method)" }
}

/// How a method streams, named as Go's grpc-prometheus labels it.
public enum GRPCMethodKind: String, Sendable {
    case unary
    case serverStream = "server_stream"
    case bidiStream = "bidi_stream"
}

/// The methods a server answers, by path, and what it asks of every call.
///
/// A unary method gets its decoded request on the connection's event loop with a responder it may
/// complete from any thread, so that a handler which can answer at once, or after a callback,
/// costs no task. Methods that need to suspend say so with `addAsyncUnary` and get a task each.
public struct GRPCMethodTable: Sendable {
    struct Entry: Sendable {
        let name: GRPCMethodName
        let kind: GRPCMethodKind
        /// Unary methods: called on the event loop with the request's bytes.
        let unary: (@Sendable (_ request: [UInt8], _ call: GRPCServerCall) -> Void)?
        /// Streaming methods: called on the event loop once the call's headers arrive.
        let stream: (@Sendable (_ call: GRPCServerCall, _ requests: AsyncThrowingStream<[UInt8], any Error>) -> Void)?
    }

    private(set) var entries: [String: Entry] = [:]
    private(set) var services: Set<String> = []

    /// Asked before any call starts: an error refuses it (a learner's "rpc not supported", say).
    public var admission: @Sendable (GRPCMethodName) -> RPCError? = { _ in nil }
    /// Told how every call ended (no code: OK), for metrics.
    public var completion: @Sendable (GRPCMethodName, GRPCMethodKind, RPCError.Code?) -> Void = { _, _, _ in }
    /// The gRPC error an error thrown by a handler becomes.
    public var errorMapping: @Sendable (any Error) -> RPCError = GRPCMethodTable.defaultErrorMapping

    public init() {}

    public static func defaultErrorMapping(_ error: any Error) -> RPCError {
        if let error = error as? RPCError { return error }
        if error is CancellationError { return RPCError(code: .cancelled, message: "context canceled") }
        return RPCError(code: .unknown, message: "\(error)")
    }

    /// A unary method answered through `UnaryResponder`, which any thread may complete.
    public mutating func addUnary<Request: Message & Sendable, Response: Message & Sendable>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request, UnaryResponder<Response>) -> Void
    ) {
        let name = GRPCMethodName(service: service, method: method)
        add(Entry(name: name, kind: .unary, unary: { bytes, call in
            let request: Request
            do {
                request = try Request(serializedBytes: bytes)
            } catch {
                call.finish(status: RPCError(code: .internalError, message: "grpc: error unmarshalling request: \(error)"))
                return
            }
            handler(request, UnaryResponder(call: call))
        }, stream: nil))
    }

    /// A unary method whose handler runs on a task of its own.
    public mutating func addAsyncUnary<Request: Message & Sendable, Response: Message & Sendable>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        addUnary(service: service, method: method) { (request: Request, responder: UnaryResponder<Response>) in
            let task = Task {
                do {
                    responder.succeed(try await handler(request))
                } catch {
                    responder.call.finish(error: error)
                }
            }
            responder.call.onCancel { task.cancel() }
        }
    }

    /// A client-, server- or bidirectionally streaming method, run on a task of its own; the call
    /// ends when the handler returns (status OK) or throws.
    public mutating func addStream<Request: Message & Sendable, Response: Message & Sendable>(
        service: String, method: String, kind: GRPCMethodKind,
        _ handler: @escaping @Sendable (GRPCRequestStream<Request>, GRPCResponseWriter<Response>) async throws -> Void
    ) {
        let name = GRPCMethodName(service: service, method: method)
        add(Entry(name: name, kind: kind, unary: nil, stream: { call, requests in
            let task = Task {
                do {
                    try await handler(GRPCRequestStream(messages: requests), GRPCResponseWriter(call: call))
                    call.finish(status: nil)
                } catch {
                    call.finish(error: error)
                }
            }
            call.onCancel { task.cancel() }
        }))
    }

    private mutating func add(_ entry: Entry) {
        entries[entry.name.path] = entry
        services.insert(entry.name.service)
    }

    /// Why a path has no method, in grpc-go's words.
    func unknown(path: String) -> RPCError {
        let trimmed = path.hasPrefix("/") ? path.dropFirst() : Substring(path)
        guard let slash = trimmed.lastIndex(of: "/") else {
            return RPCError(code: .unimplemented, message: "malformed method name: \"\(path)\"")
        }
        let service = String(trimmed[..<slash])
        let method = String(trimmed[trimmed.index(after: slash)...])
        if services.contains(service) {
            return RPCError(code: .unimplemented, message: "unknown method \(method) for service \(service)")
        }
        return RPCError(code: .unimplemented, message: "unknown service \(service)")
    }
}

/// Completes one unary call, from any thread, once.
public struct UnaryResponder<Response: Message & Sendable>: Sendable {
    let call: GRPCServerCall

    /// The event loop of the call's connection: work that must not hold up the caller's thread
    /// can go there.
    public var eventLoop: any EventLoop { call.eventLoop }

    public func succeed(_ response: Response) {
        call.finishUnary(response)
    }

    public func fail(_ error: RPCError) {
        call.finish(status: error)
    }
}

/// The request messages of a streaming call, decoded as they are read.
public struct GRPCRequestStream<Request: Message & Sendable>: AsyncSequence, Sendable {
    public typealias Element = Request
    let messages: AsyncThrowingStream<[UInt8], any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator

        public mutating func next() async throws -> Request? {
            guard let bytes = try await base.next() else { return nil }
            do {
                return try Request(serializedBytes: bytes)
            } catch {
                throw RPCError(code: .internalError, message: "grpc: error unmarshalling request: \(error)")
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: messages.makeAsyncIterator())
    }
}

/// Writes the response messages of a streaming call. A write returns once the message is on its
/// way; when too much is still waiting for the client (its flow-control window is shut, say), it
/// waits until the message has been written, so a slow client slows its own writer only.
public struct GRPCResponseWriter<Response: Message & Sendable>: Sendable {
    let call: GRPCServerCall

    /// Writes `response`, followed by `fields`: fields of the same message already encoded.
    /// Protobuf decodes concatenated encodings as one merged message (repeated fields appended),
    /// so a part shared by many responses can be encoded once.
    public func write(_ response: Response, appending fields: [UInt8] = []) async throws {
        try await call.send(Self.encoded(response, appending: fields))
    }

    /// Queues a response made by `make` on the connection's event loop, in order with the other
    /// writes, without waiting; false when the call is gone or too much of it is still unwritten
    /// (nothing is queued then: `write` the response instead, which waits).
    /// `estimatedBytes` counts against the unwritten limit until the response is written.
    public func post(estimatedBytes: Int,
                     _ make: @escaping @Sendable () throws -> (response: Response, appending: [UInt8])) -> Bool {
        call.post(estimatedBytes: estimatedBytes) {
            let (response, fields) = try make()
            return try Self.encoded(response, appending: fields)
        }
    }

    private static func encoded(_ response: Response, appending fields: [UInt8]) throws -> [UInt8] {
        var bytes: [UInt8] = try response.serializedBytes()
        bytes.append(contentsOf: fields)
        return bytes
    }
}
