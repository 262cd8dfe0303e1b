import EtcdClient
import TestSupport

/// Runs `body` with a reference etcd and a client of it; stops both afterwards and keeps the data
/// dir and log if `body` throws.
func withReferenceEtcd(
    configuration: EtcdClient.Configuration = EtcdClient.Configuration(),
    _ body: (EtcdMember, EtcdClient) async throws -> Void
) async throws {
    try await TemporaryDirectory.with(prefix: "etcdclient") { directory in
        let member = try await EtcdMember.start(in: directory)
        let client = try EtcdClient(endpoints: [member.clientEndpoint], configuration: configuration)
        do {
            try await body(member, client)
        } catch {
            print("reference etcd log (\(member.process.logPath)):\n\(member.process.logTail())")
            await client.close()
            await member.stop()
            throw error
        }
        await client.close()
        await member.stop()
    }
}

extension String {
    init(_ bytes: some Sequence<UInt8>) { self.init(decoding: Array(bytes), as: UTF8.self) }
}
