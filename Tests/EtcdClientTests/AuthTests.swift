import EtcdClient
import EtcdProto
import Foundation
import Testing
import TestSupport

/// Users, roles and tokens against Debian's etcd with authentication on (`--auth-token-ttl 1`, so
/// that tokens expire within the test): the client authenticates by itself, sends the token with
/// calls and streams, authenticates again when its token has expired, and reports etcd's errors.
@Suite(.serialized) struct AuthTests {
    @Test func credentialsAuthenticateCallsAndStreamsAndSurviveTokenExpiry() async throws {
        try await TemporaryDirectory.with(prefix: "etcdclient-auth") { directory in
            let member = try await EtcdMember.start(in: directory, extraArguments: ["--auth-token-ttl", "1"])
            defer { Task { await member.stop() } }
            // Credentials against a server without auth: used without a token, as clientv3 does.
            var configuration = EtcdClient.Configuration()
            configuration.credentials = EtcdCredentials(user: "alice", password: "secret")
            try await EtcdClient.withClient(endpoints: [member.clientEndpoint], configuration: configuration) { client in
                _ = try await client.put("data/before", "1")
            }

            try await EtcdClient.withClient(endpoints: [member.clientEndpoint]) { admin in
                try await admin.userAdd("root", password: "rootpw")
                try await admin.roleAdd("root")
                try await admin.userGrantRole("root", role: "root")
                try await admin.userAdd("alice", password: "secret")
                try await admin.roleAdd("reader")
                try await admin.roleGrantPermission("reader", .read, key: "data/", rangeEnd: "data0")
                try await admin.userGrantRole("alice", role: "reader")
                #expect(try await admin.roleGet("reader").perm.map { String($0.key) } == ["data/"])
                #expect(try await admin.userList().users == ["alice", "root"])
                try await admin.authEnable()
                // Without credentials, calls are refused now.
                let error = await #expect(throws: EtcdError.self) { try await admin.get("data/before") }
                #expect(error?.code == .userEmpty)
            }

            var rootConfiguration = EtcdClient.Configuration()
            rootConfiguration.credentials = EtcdCredentials(user: "root", password: "rootpw")
            let root = try EtcdClient(endpoints: [member.clientEndpoint], configuration: rootConfiguration)
            defer { Task { await root.close() } }
            let alice = try EtcdClient(endpoints: [member.clientEndpoint], configuration: configuration)
            defer { Task { await alice.close() } }

            #expect(String(try await alice.get("data/before").kvs[0].value) == "1")
            let denied = await #expect(throws: EtcdError.self) { try await alice.put("data/x", "1") }
            #expect(denied?.code == .permissionDenied)
            // A watch carries the token too.
            let start = try await root.put("data/w", "1").header.revision
            var iterator = alice.watch("data/", .prefix, .startRevision(start)).makeAsyncIterator()
            #expect(try await iterator.next()?.events.map { String($0.kv.key) } == ["data/w"])

            // The simple token lapses after a second unused (a client holding only that token is
            // refused), and the next call authenticates again.
            var tokenOnly = EtcdClient.Configuration()
            tokenOnly.metadata.addString(try await alice.authenticate(user: "alice", password: "secret").token, forKey: "token")
            try await Task.sleep(for: .seconds(3))
            let expired = await #expect(throws: EtcdError.self) {
                try await EtcdClient.withClient(endpoints: [member.clientEndpoint], configuration: tokenOnly) { try await $0.get("data/w") }
            }
            #expect(expired?.code == .invalidAuthToken)
            #expect(String(try await alice.get("data/w").kvs[0].value) == "1")

            var wrong = configuration
            wrong.credentials?.password = "wrong"
            let refused = await #expect(throws: EtcdError.self) {
                try await EtcdClient.withClient(endpoints: [member.clientEndpoint], configuration: wrong) { try await $0.get("data/w") }
            }
            #expect(refused?.code == .authFailed)

            try await root.authDisable()
            try await root.userDelete("alice")
            let missing = await #expect(throws: EtcdError.self) { try await root.userGet("alice") }
            #expect(missing?.code == .userNotFound)
        }
    }
}
