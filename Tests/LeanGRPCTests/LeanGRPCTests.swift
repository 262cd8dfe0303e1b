import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LeanGRPC
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The lean gRPC server against an independent gRPC implementation (grpc-swift's client): calls,
/// statuses, message limits, flow control in both directions, cancellation and shutdown. The etcd
/// methods are borrowed only for their message types; the handlers here are the tests' own.
@Suite struct LeanGRPCTests {
    @Test func unaryCallsSucceedAndFailWithStatusAndMessage() async throws {
        let ended = Mutex<[String]>([])
        var table = GRPCMethodTable()
        table.completion = { name, kind, code in
            ended.withLock { $0.append("\(name.path) \(kind.rawValue) \(code.map { String($0.rawValue) } ?? "OK")") }
        }
        table.addUnary(service: "etcdserverpb.KV", method: "Range") {
            (request: Etcdserverpb_RangeRequest, responder: UnaryResponder<Etcdserverpb_RangeResponse>) in
            if request.key == Data("fail".utf8) {
                // Non-ASCII and '%' travel percent-encoded in grpc-message.
                return responder.fail(RPCError(code: .failedPrecondition, message: "etcdserver: 100% wrong — ünïcode"))
            }
            responder.succeed(.with { $0.count = Int64(request.key.count) })
        }
        try await withServer(table) { client, _ in
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            let answer = try await kv.range(.with { $0.key = Data("four".utf8) })
            #expect(answer.count == 4)
            let error = await #expect(throws: RPCError.self) { try await kv.range(.with { $0.key = Data("fail".utf8) }) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message == "etcdserver: 100% wrong — ünïcode")
            // Each call is counted once, with its code (FAILED_PRECONDITION is 9).
            #expect(ended.withLock { $0 } == ["/etcdserverpb.KV/Range unary OK", "/etcdserverpb.KV/Range unary 9"])
        }
    }

    @Test func unknownServicesAndMethodsAreUnimplementedInGrpcGosWords() async throws {
        var table = GRPCMethodTable()
        table.addUnary(service: "etcdserverpb.KV", method: "Range") {
            (_: Etcdserverpb_RangeRequest, responder: UnaryResponder<Etcdserverpb_RangeResponse>) in
            responder.succeed(.init())
        }
        try await withServer(table) { client, _ in
            let put = await #expect(throws: RPCError.self) {
                try await Etcdserverpb_KV.Client(wrapping: client).put(.init())
            }
            #expect(put?.code == .unimplemented)
            #expect(put?.message == "unknown method Put for service etcdserverpb.KV")
            let auth = await #expect(throws: RPCError.self) {
                try await Etcdserverpb_Auth.Client(wrapping: client).authEnable(.init())
            }
            #expect(auth?.code == .unimplemented)
            #expect(auth?.message == "unknown service etcdserverpb.Auth")
        }
    }

    @Test func messagesOverTheLimitAreRefusedAndLargeOnesWithinItFlow() async throws {
        var table = GRPCMethodTable()
        table.addAsyncUnary(service: "etcdserverpb.KV", method: "Put") {
            (request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse in
            // Echoed back: a response far larger than the client's initial window as well.
            .with { $0.prevKv.value = request.value }
        }
        let limit = 3 << 20
        try await withServer(table, maximumReceiveMessageBytes: limit) { client, _ in
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            // Larger than both the stream and the connection windows the server advertises.
            let large = Data((0..<(5 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            for _ in 0..<3 {
                let echoed = try await kv.put(.with { $0.value = large })
                #expect(echoed.prevKv.value == large)
            }
            let tooLarge = Data(count: limit + 1)
            let error = await #expect(throws: RPCError.self) { try await kv.put(.with { $0.value = tooLarge }) }
            #expect(error?.code == .resourceExhausted)
            let encodedSize = try Etcdserverpb_PutRequest.with { $0.value = tooLarge }.serializedBytes() as [UInt8]
            #expect(error?.message == "grpc: received message larger than max (\(encodedSize.count) vs. \(limit))")
            // The connection stays usable.
            #expect(try await kv.put(.with { $0.value = Data("small".utf8) }).prevKv.value == Data("small".utf8))
        }
    }

    @Test func bidirectionalStreamsCarryManyMessagesEachWay() async throws {
        var table = GRPCMethodTable()
        table.addStream(service: "etcdserverpb.Watch", method: "Watch", kind: .bidiStream) {
            (requests: GRPCRequestStream<Etcdserverpb_WatchRequest>, responses: GRPCResponseWriter<Etcdserverpb_WatchResponse>) in
            for try await request in requests {
                // Each answer carries 64 KiB: 200 of them exceed any window, so writes must wait.
                try await responses.write(.with {
                    $0.watchID = request.createRequest.watchID
                    $0.events = [.with { $0.kv.value = Data(count: 64 << 10) }]
                })
            }
        }
        try await withServer(table) { client, _ in
            let watch = Etcdserverpb_Watch.Client(wrapping: client)
            let ids = try await watch.watch { writer in
                for id in 1...200 { try await writer.write(.with { $0.createRequest.watchID = Int64(id) }) }
            } onResponse: { response in
                var ids: [Int64] = []
                for try await message in response.messages { ids.append(message.watchID) }
                return ids
            }
            #expect(ids == Array(1...200))
        }
    }

    @Test func postedMessagesKeepTheirOrderWithWrittenOnesAndAreDeclinedWhenTheClientLagsBehind() async throws {
        let declinedAt = Mutex<Int?>(nil)
        let total = 400
        var table = GRPCMethodTable()
        table.addStream(service: "etcdserverpb.Watch", method: "Watch", kind: .bidiStream) {
            (requests: GRPCRequestStream<Etcdserverpb_WatchRequest>, responses: GRPCResponseWriter<Etcdserverpb_WatchResponse>) in
            for try await _ in requests {
                // 64 KiB each, posted while the client reads nothing until one is declined (the
                // unwritten limit is reached); that one is written, waiting, and from then on
                // posts and writes alternate.
                for id in 0..<total {
                    let response = Etcdserverpb_WatchResponse.with {
                        $0.watchID = Int64(id)
                        $0.events = [.with { $0.kv.value = Data(count: 64 << 10) }]
                    }
                    let declined = declinedAt.withLock { $0 } != nil
                    if declined && id % 2 == 0 {
                        try await responses.write(response)
                    } else if !responses.post(estimatedBytes: 64 << 10, { (response, []) }) {
                        if !declined { declinedAt.withLock { $0 = id } }
                        try await responses.write(response)
                    }
                }
            }
        }
        try await withServer(table) { client, _ in
            let watch = Etcdserverpb_Watch.Client(wrapping: client)
            let ids = try await watch.watch { writer in
                try await writer.write(.with { $0.createRequest.watchID = 1 })
            } onResponse: { response in
                try await waitUntil { declinedAt.withLock { $0 } != nil }
                var ids: [Int64] = []
                for try await message in response.messages {
                    ids.append(message.watchID)
                    if ids.count == total { break }
                }
                return ids
            }
            #expect(ids == (0..<Int64(total)).map { $0 })
            #expect(try #require(declinedAt.withLock { $0 }) > 0)
        }
    }

    @Test func aClientThatCancelsAStreamCancelsItsHandler() async throws {
        let started = Mutex(false)
        let cancelled = Mutex(false)
        let ended = Mutex<[String]>([])
        var table = GRPCMethodTable()
        table.completion = { name, _, code in
            ended.withLock { $0.append("\(name.method) \(code.map { String($0.rawValue) } ?? "OK")") }
        }
        table.addStream(service: "etcdserverpb.Watch", method: "Watch", kind: .bidiStream) {
            (requests: GRPCRequestStream<Etcdserverpb_WatchRequest>, responses: GRPCResponseWriter<Etcdserverpb_WatchResponse>) in
            try await responses.write(.with { $0.created = true })
            started.withLock { $0 = true }
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
        }
        try await withServer(table) { client, _ in
            let watch = Etcdserverpb_Watch.Client(wrapping: client)
            let call = Task {
                try await watch.watch { writer in
                    try await Task.sleep(for: .seconds(60))
                } onResponse: { response in
                    for try await _ in response.messages {}
                }
            }
            try await waitUntil { started.withLock { $0 } }
            #expect(!cancelled.withLock { $0 })
            call.cancel()
            try await waitUntil { cancelled.withLock { $0 } }
            // Counted once, as CANCELLED (code 1).
            try await waitUntil { ended.withLock { $0 == ["Watch 1"] } }
        }
    }

    @Test func refusedCallsNeverReachTheirHandler() async throws {
        let reached = Mutex(false)
        var table = GRPCMethodTable()
        table.admission = { name in name.method == "Put" ? RPCError(code: .unavailable, message: "not here") : nil }
        table.addUnary(service: "etcdserverpb.KV", method: "Put") {
            (_: Etcdserverpb_PutRequest, responder: UnaryResponder<Etcdserverpb_PutResponse>) in
            reached.withLock { $0 = true }
            responder.succeed(.init())
        }
        try await withServer(table) { client, _ in
            let error = await #expect(throws: RPCError.self) { try await Etcdserverpb_KV.Client(wrapping: client).put(.init()) }
            #expect(error?.code == .unavailable)
            #expect(error?.message == "not here")
            #expect(!reached.withLock { $0 })
        }
    }

    @Test func gracefulShutdownLetsCallsInFlightFinish() async throws {
        let started = Mutex(false)
        var table = GRPCMethodTable()
        table.addAsyncUnary(service: "etcdserverpb.KV", method: "Put") {
            (_: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse in
            started.withLock { $0 = true }
            try await Task.sleep(for: .milliseconds(500))
            return .with { $0.header.revision = 7 }
        }
        try await withServer(table) { client, listener in
            let call = Task { try await Etcdserverpb_KV.Client(wrapping: client).put(.init()) }
            try await waitUntil { started.withLock { $0 } }
            listener.beginGracefulShutdown()
            #expect(try await call.value.header.revision == 7)
            await listener.closed()
        }
    }
}

/// The lean client (the load tool's) against the lean server: answers, statuses, and messages
/// larger than the initial flow-control windows both ways on a fresh connection.
@Suite struct LeanGRPCClientTests {
    @Test func unaryCallsAnswerAndFail() async throws {
        var table = GRPCMethodTable()
        table.addUnary(service: "etcdserverpb.KV", method: "Put") {
            (request: Etcdserverpb_PutRequest, responder: UnaryResponder<Etcdserverpb_PutResponse>) in
            if request.key == Data("fail".utf8) {
                return responder.fail(RPCError(code: .invalidArgument, message: "etcdserver: 100% wrong — ünïcode"))
            }
            responder.succeed(.with { $0.prevKv.value = request.value })
        }
        let listener = try await GRPCListener.bind(
            host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, table: table,
            configuration: .init(maximumReceiveMessageBytes: 4 << 20, maximumConcurrentStreams: 100)) { _ in }
        defer { listener.closeAll() }
        let connection = try await GRPCClientConnection.connect(host: "127.0.0.1", port: try #require(listener.localAddress?.port))
        // The first request already exceeds the 64 KiB windows every HTTP/2 connection starts with.
        let large = Data((0..<(3 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let echoed = try await connection.unary("/etcdserverpb.KV/Put", Etcdserverpb_PutRequest.with { $0.value = large },
                                                as: Etcdserverpb_PutResponse.self)
        #expect(echoed.prevKv.value == large)
        let error = await #expect(throws: RPCError.self) {
            _ = try await connection.unary("/etcdserverpb.KV/Put", Etcdserverpb_PutRequest.with { $0.key = Data("fail".utf8) },
                                           as: Etcdserverpb_PutResponse.self)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "etcdserver: 100% wrong — ünïcode")
        let unknown = await #expect(throws: RPCError.self) {
            _ = try await connection.unary("/etcdserverpb.Auth/AuthEnable", Etcdserverpb_AuthEnableRequest(),
                                           as: Etcdserverpb_AuthEnableResponse.self)
        }
        #expect(unknown?.code == .unimplemented)
        #expect(unknown?.message == "unknown service etcdserverpb.Auth")
        // Many calls at once on the one connection.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let value = Data("value-\(index)".utf8)
                    let answer = try await connection.unary("/etcdserverpb.KV/Put", Etcdserverpb_PutRequest.with { $0.value = value },
                                                            as: Etcdserverpb_PutResponse.self)
                    #expect(answer.prevKv.value == value)
                }
            }
            try await group.waitForAll()
        }
        await connection.close()
    }
}

extension LeanGRPCClientTests {
    @Test func streamsDeliverEveryMessageInOrderAndTheirEnd() async throws {
        var table = GRPCMethodTable()
        table.addStream(service: "etcdserverpb.Watch", method: "Watch", kind: .bidiStream) {
            (requests: GRPCRequestStream<Etcdserverpb_WatchRequest>, responses: GRPCResponseWriter<Etcdserverpb_WatchResponse>) in
            for try await request in requests {
                let count = Int(request.createRequest.startRevision)
                // Small ones share frames; every 50th spans several (16 KiB frames).
                for id in 0..<count {
                    try await responses.write(.with {
                        $0.watchID = Int64(id)
                        if id % 50 == 0 { $0.events = [.with { $0.kv.value = Data(count: 40 << 10) }] }
                    })
                }
                if request.createRequest.key == Data("fail".utf8) {
                    throw RPCError(code: .failedPrecondition, message: "etcdserver: 100% done")
                }
                return
            }
        }
        let listener = try await GRPCListener.bind(
            host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, table: table,
            configuration: .init(maximumReceiveMessageBytes: 4 << 20, maximumConcurrentStreams: 100)) { _ in }
        defer { listener.closeAll() }
        let connection = try await GRPCClientConnection.connect(host: "127.0.0.1", port: try #require(listener.localAddress?.port))
        let received = Mutex<[Int: [Int64]]>([:])
        let ends = Mutex<[Int: String]>([:])
        for stream in 0..<3 {
            try await connection.openStream(
                "/etcdserverpb.Watch/Watch",
                Etcdserverpb_WatchRequest.with {
                    $0.createRequest.startRevision = 500
                    if stream == 2 { $0.createRequest.key = Data("fail".utf8) }
                },
                onMessage: { bytes in
                    let id = (try? Etcdserverpb_WatchResponse(serializedBytes: bytes))?.watchID ?? -1
                    received.withLock { $0[stream, default: []].append(id) }
                },
                onEnd: { error in
                    ends.withLock { $0[stream] = error.map { "\($0.code) \($0.message)" } ?? "OK" }
                })
        }
        try await waitUntil { ends.withLock { $0.count } == 3 }
        #expect(received.withLock { $0 } == [0: Array(0..<500), 1: Array(0..<500), 2: Array(0..<500)])
        #expect(ends.withLock { $0 } == [0: "OK", 1: "OK", 2: "failedPrecondition etcdserver: 100% done"])
        await connection.close()
    }
}

private func withServer(
    _ table: GRPCMethodTable, maximumReceiveMessageBytes: Int = 4 << 20,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>, GRPCListener) async throws -> Void
) async throws {
    let listener = try await GRPCListener.bind(
        host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, table: table,
        configuration: .init(maximumReceiveMessageBytes: maximumReceiveMessageBytes, maximumConcurrentStreams: 100)
    ) { _ in }
    let port = try #require(listener.localAddress?.port)
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    do {
        try await withGRPCClient(transport: transport) { client in try await body(client, listener) }
    } catch {
        listener.closeAll()
        throw error
    }
    listener.closeAll()
    await listener.closed()
}

private func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(10))
    }
}
