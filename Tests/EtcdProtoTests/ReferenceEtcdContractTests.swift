import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import TestSupport

/// The generated messages and grpc-swift-2 stubs are etcd's wire contract: the reference etcd 3.4
/// (Debian's `/usr/bin/etcd`) accepts what they send and answers what they decode, including etcd's
/// own gRPC error codes and messages.
@Suite(.serialized) struct ReferenceEtcdContractTests {
    @Test func kvPutRangeTxnAndErrors() async throws {
        try await withReferenceEtcd { client in
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            let put = try await kv.put(.with { $0.key = bytes("foo"); $0.value = bytes("bar") })
            let putRevision = put.header.revision
            #expect(putRevision >= 2, "a fresh etcd starts at revision 1")
            #expect(put.header.clusterID != 0 && put.header.memberID != 0)

            let range = try await kv.range(.with { $0.key = bytes("foo") })
            #expect(range.count == 1)
            #expect(range.kvs.map { string($0.key) } == ["foo"])
            #expect(range.kvs.first?.value == bytes("bar"))
            #expect(range.kvs.first?.version == 1)
            #expect(range.kvs.first?.createRevision == putRevision)
            #expect(range.kvs.first?.modRevision == putRevision)

            // A compare-and-swap on the version: the first succeeds, the second takes the else branch.
            let swap = Etcdserverpb_TxnRequest.with {
                $0.compare = [.with {
                    $0.key = bytes("foo"); $0.target = .version; $0.result = .equal; $0.version = 1
                }]
                $0.success = [.with { $0.requestPut = .with { $0.key = bytes("foo"); $0.value = bytes("baz") } }]
                $0.failure = [.with { $0.requestRange = .with { $0.key = bytes("foo") } }]
            }
            let first = try await kv.txn(swap)
            #expect(first.succeeded)
            #expect(first.header.revision == putRevision + 1)
            let second = try await kv.txn(swap)
            #expect(!second.succeeded)
            #expect(second.responses.first?.responseRange.kvs.first?.value == bytes("baz"))
            #expect(second.responses.first?.responseRange.kvs.first?.version == 2)

            // etcd's own codes and messages (rpctypes/error.go).
            let future = await #expect(throws: RPCError.self) {
                try await kv.range(.with { $0.key = bytes("foo"); $0.revision = putRevision + 1000 })
            }
            #expect(future?.code == .outOfRange)
            #expect(future?.message == "etcdserver: mvcc: required revision is a future revision")
            let emptyKey = await #expect(throws: RPCError.self) {
                try await kv.put(.with { $0.value = bytes("no key") })
            }
            #expect(emptyKey?.code == .invalidArgument)
            #expect(emptyKey?.message == "etcdserver: key is not provided")
        }
    }

    @Test func watchStreamDeliversCreatedEventsAndCancel() async throws {
        try await withReferenceEtcd { client in
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            let watch = Etcdserverpb_Watch.Client(wrapping: client)
            let (requests, requestSink) = AsyncStream.makeStream(of: Etcdserverpb_WatchRequest.self)
            requestSink.yield(.with {
                $0.createRequest = .with {
                    $0.key = bytes("w/"); $0.rangeEnd = bytes("w0"); $0.prevKv = true
                }
            })

            let received = try await watch.watch(
                requestProducer: { writer in
                    for await request in requests { try await writer.write(request) }
                },
                onResponse: { response in
                    var log: [Etcdserverpb_WatchResponse] = []
                    for try await message in response.messages {
                        log.append(message)
                        if message.created {
                            _ = try await kv.put(.with { $0.key = bytes("w/a"); $0.value = bytes("1") })
                            _ = try await kv.put(.with { $0.key = bytes("w/a"); $0.value = bytes("2") })
                            _ = try await kv.put(.with { $0.key = bytes("outside"); $0.value = bytes("x") })
                        } else if message.events.contains(where: { $0.kv.value == bytes("2") }) {
                            requestSink.yield(.with { $0.cancelRequest = .with { $0.watchID = message.watchID } })
                        } else if message.canceled {
                            requestSink.finish()
                            return log
                        }
                    }
                    return log
                })

            let created = try #require(received.first)
            #expect(created.created)
            let events = received.flatMap(\.events)
            #expect(events.map { string($0.kv.key) } == ["w/a", "w/a"])
            #expect(events.map(\.type) == [.put, .put])
            #expect(events.map { $0.kv.version } == [1, 2])
            #expect(events.last?.prevKv.value == bytes("1"), "prev_kv was requested")
            #expect(received.last?.canceled == true)
            #expect(received.last?.watchID == created.watchID)
        }
    }

    @Test func leaseGrantAttachesKeys() async throws {
        try await withReferenceEtcd { client in
            let lease = Etcdserverpb_Lease.Client(wrapping: client)
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            let grant = try await lease.leaseGrant(.with { $0.ttl = 60 })
            #expect(grant.id != 0)
            #expect(grant.ttl == 60)
            #expect(grant.error.isEmpty)

            _ = try await kv.put(.with { $0.key = bytes("leased"); $0.value = bytes("v"); $0.lease = grant.id })
            let ttl = try await lease.leaseTimeToLive(.with { $0.id = grant.id; $0.keys = true })
            #expect(ttl.grantedTtl == 60)
            #expect(ttl.ttl > 0 && ttl.ttl <= 60)
            #expect(ttl.keys == [bytes("leased")])

            let unknown = await #expect(throws: RPCError.self) {
                try await kv.put(.with { $0.key = bytes("k"); $0.value = bytes("v"); $0.lease = grant.id + 1 })
            }
            #expect(unknown?.code == .notFound)
            #expect(unknown?.message == "etcdserver: requested lease not found")

            _ = try await lease.leaseRevoke(.with { $0.id = grant.id })
            let after = try await kv.range(.with { $0.key = bytes("leased") })
            #expect(after.kvs.isEmpty, "revoking a lease deletes its keys")
        }
    }
}

/// Starts a reference etcd in a temporary directory, runs `body` with a gRPC client connected to
/// it, then stops the server. On failure the directory (data dir and log) is kept.
private func withReferenceEtcd(
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void
) async throws {
    try await TemporaryDirectory.with(prefix: "reference-etcd") { directory in
        let member = try await EtcdMember.start(in: directory)
        do {
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "127.0.0.1", port: member.clientPort),
                transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in try await body(client) }
            await member.stop()
        } catch {
            print("reference etcd log (\(member.process.logPath)):\n\(member.process.logTail())")
            await member.stop()
            throw error
        }
    }
}

private func bytes(_ text: String) -> Data { Data(text.utf8) }
private func string(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }
