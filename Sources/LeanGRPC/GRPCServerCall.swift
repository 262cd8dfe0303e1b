import GRPCCore
import NIOCore
import NIOHTTP2
import SwiftProtobuf
import Synchronization

/// One call on one HTTP/2 stream, as its handler sees it: safe to use from any thread. Every
/// write hops to the connection's event loop, where the stream's state lives, through the
/// connection's outbox, which keeps them in order.
public final class GRPCServerCall: Sendable {
    public let name: GRPCMethodName
    let eventLoop: any EventLoop
    private let connection: NIOLoopBound<GRPCConnectionHandler>
    private let outbox: ConnectionOutbox
    private let streamID: HTTP2StreamID
    private let errorMapping: @Sendable (any Error) -> RPCError

    private struct State {
        var cancelled = false
        var onCancel: [@Sendable () -> Void] = []
        /// Bytes handed to the event loop and not yet written to the socket.
        var unwritten = 0
    }

    private let state = Mutex(State())

    /// Past this many unwritten bytes a streaming write waits for its message to be written.
    static let unwrittenLimit = 256 << 10

    init(name: GRPCMethodName, eventLoop: any EventLoop, connection: NIOLoopBound<GRPCConnectionHandler>,
         outbox: ConnectionOutbox, streamID: HTTP2StreamID, errorMapping: @escaping @Sendable (any Error) -> RPCError) {
        self.name = name
        self.eventLoop = eventLoop
        self.connection = connection
        self.outbox = outbox
        self.streamID = streamID
        self.errorMapping = errorMapping
    }

    /// Whether the client went away or reset the stream.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Runs `action` when the call is cancelled (at once if it already is).
    public func onCancel(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.cancelled { return true }
            state.onCancel.append(action)
            return false
        }
        if runNow { action() }
    }

    /// Called by the connection on its event loop.
    func cancel() {
        let actions = state.withLock { state in
            state.cancelled = true
            defer { state.onCancel = [] }
            return state.onCancel
        }
        for action in actions { action() }
    }

    /// Answers a unary call: the message, then status OK. Encoded on the event loop, so the
    /// thread completing the call (the Raft driver's, say) is not held up.
    func finishUnary<Response: Message & Sendable>(_ response: Response) {
        let connection = connection
        let streamID = streamID
        let errorMapping = errorMapping
        run {
            do {
                let bytes: [UInt8] = try response.serializedBytes()
                connection.value.finish(streamID: streamID, message: bytes, status: nil)
            } catch {
                connection.value.finish(streamID: streamID, message: nil, status: errorMapping(error))
            }
        }
    }

    /// Ends the call with an error (nil: OK).
    func finish(status: RPCError?) {
        let connection = connection
        let streamID = streamID
        run { connection.value.finish(streamID: streamID, message: nil, status: status) }
    }

    /// Ends the call with the gRPC error a thrown error maps to.
    func finish(error: any Error) {
        finish(status: errorMapping(error))
    }

    /// Sends one message of a streaming call.
    func send(_ message: [UInt8]) async throws {
        let size = message.count
        let wait: Bool? = state.withLock { state in
            if state.cancelled { return nil }
            state.unwritten += size
            return state.unwritten > Self.unwrittenLimit
        }
        guard let wait else { throw CancellationError() }
        let promise = unwrittenPromise(size)
        let connection = connection
        let streamID = streamID
        run { connection.value.send(streamID: streamID, message: message, promise: promise) }
        if wait { try await promise.futureResult.get() }
    }

    /// Queues one message of a streaming call without waiting, to be encoded on the event loop by
    /// `encode`, in order with this call's other writes. Declines (false, nothing queued) when the
    /// call is cancelled or `estimatedBytes` more would pass the unwritten limit: the caller then
    /// uses `send`, which waits.
    func post(estimatedBytes: Int, _ encode: @escaping @Sendable () throws -> [UInt8]) -> Bool {
        let accepted = state.withLock { state in
            guard !state.cancelled, state.unwritten + estimatedBytes <= Self.unwrittenLimit else { return false }
            state.unwritten += estimatedBytes
            return true
        }
        guard accepted else { return false }
        let connection = connection
        let streamID = streamID
        let errorMapping = errorMapping
        // Never run in place, even on the event loop: the caller may hold its own locks (the
        // watch hub's), and a write's consequences (a stream found closed cancels its watches)
        // would call back into it.
        outbox.run(mayRunNow: false) {
            do {
                connection.value.send(streamID: streamID, message: try encode(), promise: self.unwrittenPromise(estimatedBytes))
            } catch {
                self.state.withLock { $0.unwritten -= estimatedBytes }
                connection.value.finish(streamID: streamID, message: nil, status: errorMapping(error))
            }
        }
        return true
    }

    /// A write's promise that takes its bytes off the unwritten count once it completes.
    private func unwrittenPromise(_ size: Int) -> EventLoopPromise<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in self.state.withLock { $0.unwritten -= size } }
        return promise
    }

    private func run(_ body: @escaping @Sendable () -> Void) {
        outbox.run(body)
    }
}

/// The work other threads hand one connection's event loop for its calls (messages, answers,
/// ends), run in the order it was handed over: the first piece handed over while none is waiting
/// queues one event-loop task, which runs pieces until none is left. A store publication
/// that feeds many watch streams of one connection so costs one hop, not one each; and since
/// every write of a call goes through here, none can overtake another.
final class ConnectionOutbox: Sendable {
    private struct Waiting {
        var bodies: [@Sendable () -> Void] = []
        /// The event loop is running handed-over work: whatever is handed over meanwhile, even
        /// from that work itself, runs after it in the same pass.
        var running = false
    }

    private let eventLoop: any EventLoop
    private let waiting = Mutex(Waiting())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `body` on the event loop after everything handed over before it: at once when called
    /// there with nothing waiting and `mayRunNow`, else in a task.
    func run(mayRunNow: Bool = true, _ body: @escaping @Sendable () -> Void) {
        if mayRunNow && eventLoop.inEventLoop {
            let runsNow = waiting.withLock { waiting in
                if waiting.bodies.isEmpty && !waiting.running { return true }
                waiting.bodies.append(body)
                return false
            }
            if runsNow { body() } else { runWaiting() }
            return
        }
        let schedules = waiting.withLock { waiting in
            waiting.bodies.append(body)
            return waiting.bodies.count == 1 && !waiting.running
        }
        if schedules { eventLoop.execute { self.runWaiting() } }
    }

    private func runWaiting() {
        let starts = waiting.withLock { waiting in
            defer { waiting.running = true }
            return !waiting.running
        }
        guard starts else { return }
        while let bodies = waiting.withLock({ waiting -> [@Sendable () -> Void]? in
            if waiting.bodies.isEmpty {
                waiting.running = false
                return nil
            }
            defer { waiting.bodies.removeAll(keepingCapacity: true) }
            return waiting.bodies
        }) {
            for body in bodies { body() }
        }
    }
}
