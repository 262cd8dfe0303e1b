import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// The client port's first bytes, at the HTTP/2 frame level: what the server writes while it is
/// still reading the bytes that told it the client speaks gRPC must reach the client. (It once
/// did not: the connection's first SETTINGS ACK, PING ACK and connection WINDOW_UPDATE were
/// swallowed, and a client sending more than 64 KiB on a fresh connection waited forever.)
@Suite(.serialized) struct ClientPortHTTP2Tests {
    /// Runs `body` with a raw connection to the client port of a fresh member of ours.
    private static func withClientPort(_ prefix: String, _ body: (RawSocket) throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: prefix) { directory in
            let member = try await ServerProcessTests.startOurs(in: directory)
            defer { Task { await member.stop() } }
            let socket = try RawSocket(port: member.clientPort)
            defer { socket.close() }
            try body(socket)
            await member.stop()
        }
    }

    /// What an HTTP/2 client sends first.
    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    @Test func answersToFramesInTheFirstReadReachTheClient() async throws {
        try await Self.withClientPort("ours-first-read") { socket in
            var first = Self.preface
            first += frame(type: 0x4, flags: 0, stream: 0, payload: [])  // SETTINGS, none changed
            first += frame(type: 0x6, flags: 0, stream: 0, payload: Array("12345678".utf8))  // PING
            // One write: the server reads preface, SETTINGS and PING together.
            try socket.send(first)
            var settingsAcknowledged = false
            var pingAnswered = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !(settingsAcknowledged && pingAnswered) && ContinuousClock.now < deadline {
                guard let (type, flags, payload) = try socket.readFrame() else { continue }
                if type == 0x4 && flags & 0x1 == 1 { settingsAcknowledged = true }
                if type == 0x6 && flags & 0x1 == 1 && payload == Array("12345678".utf8) { pingAnswered = true }
            }
            #expect(settingsAcknowledged, "SETTINGS ACK for the client's first SETTINGS")
            #expect(pingAnswered, "PING ACK for a PING in the connection's first bytes")
        }
    }

    /// A request whose headers break HTTP/2's rules (no `:path`, an upper-case name) is answered
    /// on its stream, as an unknown method, and the connection goes on serving. The server
    /// leaves the header-block checks to its call handler (they cost a few percent of its CPU).
    @Test func malformedRequestHeadersAreAnsweredAndTheConnectionLives() async throws {
        try await Self.withClientPort("ours-malformed-headers") { socket in
            func literal(_ name: String, _ value: String) -> [UInt8] {
                // HPACK: literal header field without indexing, new name, no Huffman coding.
                [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
            }
            // :method POST and :scheme http from the static table; no :path.
            let block: [UInt8] = [0x83, 0x86] + literal("content-type", "application/grpc") + literal("X-Upper", "1")
            var bytes = Self.preface
            bytes += frame(type: 0x4, flags: 0, stream: 0, payload: [])
            bytes += frame(type: 0x1, flags: 0x4 | 0x1, stream: 1, payload: block)  // END_HEADERS, END_STREAM
            bytes += frame(type: 0x6, flags: 0, stream: 0, payload: Array("87654321".utf8))
            try socket.send(bytes)
            var answered = false
            var pingAnswered = false
            var refused = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !(answered && pingAnswered) && !refused && ContinuousClock.now < deadline {
                guard let (type, flags, payload) = try socket.readFrame() else { continue }
                if type == 0x1 && flags & 0x1 == 1 { answered = true }  // trailers-only answer, stream 1
                if type == 0x3 || type == 0x7 { refused = true }         // RST_STREAM or GOAWAY
                if type == 0x6 && flags & 0x1 == 1 && payload == Array("87654321".utf8) { pingAnswered = true }
            }
            #expect(answered && !refused, "the request gets a trailers-only answer, not a reset or GOAWAY")
            #expect(pingAnswered, "the connection still answers PINGs")
        }
    }
}

private func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
    let length = payload.count
    return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
            UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)]
        + payload
}

/// A blocking TCP socket to 127.0.0.1 with a short receive timeout, reading HTTP/2 frames.
private final class RawSocket {
    private let descriptor: Int32
    private var received: [UInt8] = []

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestSupportError.commandFailed("connect: errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw TestSupportError.commandFailed("send: \(sent) of \(bytes.count)") }
    }

    /// The next whole frame (type, flags, payload), or nil if none arrived within the timeout.
    func readFrame() throws -> (UInt8, UInt8, [UInt8])? {
        while true {
            if received.count >= 9 {
                let length = Int(received[0]) << 16 | Int(received[1]) << 8 | Int(received[2])
                if received.count >= 9 + length {
                    let frame = (received[3], received[4], Array(received[9..<(9 + length)]))
                    received.removeFirst(9 + length)
                    return frame
                }
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            received += buffer[..<count]
        }
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
