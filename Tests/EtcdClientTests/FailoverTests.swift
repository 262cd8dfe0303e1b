import EtcdClient
import Testing
import TestSupport

@Suite struct FailoverTests {
    /// A dead endpoint first in the list: reads move on to the live one within the call, a write
    /// fails once (it is never repeated: it might have been applied) and the next write goes to the
    /// live endpoint.
    @Test func readsFailOverAndWritesAreNotRepeated() async throws {
        try await TemporaryDirectory.with(prefix: "failover") { directory in
            let member = try await EtcdMember.start(in: directory)
            let deadPort = try FreePorts.allocate(1)[0]
            let client = try EtcdClient(endpoints: ["127.0.0.1:\(deadPort)", member.clientEndpoint])
            let read = try await client.get("missing")
            #expect(read.count == 0)

            let writer = try EtcdClient(endpoints: ["127.0.0.1:\(deadPort)", member.clientEndpoint])
            let firstWrite = await #expect(throws: EtcdError.self) { try await writer.put("k", "v") }
            #expect(firstWrite?.code == .unavailable)
            try await writer.put("k", "v")
            #expect(try await client.get("k").kvs.count == 1)

            await client.close()
            await writer.close()
            await member.stop()
        }
    }
}

/// Go's gRPC server answers nearly every request with a bandwidth-estimation PING; without
/// `PingResponder`, swift-nio-http2 closed the connection every 200 of them (ENHANCE_YOUR_CALM),
/// failing the calls in flight. Sustained load on one connection must see no error.
@Suite struct SustainedLoadTests {
    @Test func fiveHundredRequestsOnOneConnectionAllSucceed() async throws {
        try await withReferenceEtcd { _, client in
            var failures: [String] = []
            for index in 0..<500 {
                do {
                    try await client.put("load/\(index % 10)", "v")
                } catch {
                    failures.append("request \(index): \(error)")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(3))")
        }
    }
}
