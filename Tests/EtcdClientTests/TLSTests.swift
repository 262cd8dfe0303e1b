import EtcdClient
import EtcdProto
import Foundation
import Testing
import TestSupport

/// The client over TLS, against Debian's etcd and ours serving `https://` client URLs that
/// require a certificate signed by the test CA.
@Suite(.serialized) struct TLSTests {
    @Test(arguments: ["reference", "ours"])
    func callsAndWatchesOverTLSWithAClientCertificate(server: String) async throws {
        try await TemporaryDirectory.with(prefix: "client-tls-\(server)") { directory in
            let pki = try TestCertificates(in: directory)
            let member = try await EtcdMember.start(
                in: directory, executable: server == "ours" ? try builtExecutable("etcd") : EtcdMember.referenceExecutable,
                clientTLS: .init(serverArguments: ["--cert-file", pki.serverCertificate, "--key-file", pki.serverKey,
                                                   "--trusted-ca-file", pki.ca, "--client-cert-auth"],
                                 curlArguments: ["--cacert", pki.ca, "--cert", pki.clientCertificate, "--key", pki.clientKey]))
            defer { Task { await member.stop() } }
            var configuration = EtcdClient.Configuration()
            configuration.tls = .init(trustedCAFile: pki.ca, certificateFile: pki.clientCertificate, keyFile: pki.clientKey)
            try await EtcdClient.withClient(endpoints: [member.clientEndpoint], configuration: configuration) { client in
                let start = try await client.put("tls/a", "1").header.revision
                #expect(String(try await client.get("tls/a").kvs[0].value) == "1")
                var watched: [String] = []
                for try await response in client.watch("tls/", .prefix, .startRevision(start)) {
                    watched += response.events.map { String($0.kv.value) }
                    if watched.count == 2 { break }
                    if watched.count == 1 { try await client.put("tls/b", "2") }
                }
                #expect(watched == ["1", "2"])
            }

            // An http:// endpoint stays plaintext even with TLS configured: the TLS port refuses it.
            configuration.requestTimeout = .seconds(1)
            let plaintext = try EtcdClient(endpoints: ["http://" + member.clientEndpoint], configuration: configuration)
            await #expect(throws: EtcdError.self) { try await plaintext.get("tls/a") }
            await plaintext.close()

            // A server the CA did not sign is not trusted; unless verification is turned off.
            var stranger = configuration
            stranger.tls?.trustedCAFile = pki.strangerCA
            let untrusting = try EtcdClient(endpoints: [member.clientEndpoint], configuration: stranger)
            await #expect(throws: EtcdError.self) { try await untrusting.get("tls/a") }
            await untrusting.close()
            stranger.tls?.verifiesServer = false
            let unverifying = try EtcdClient(endpoints: [member.clientEndpoint], configuration: stranger)
            #expect(try await unverifying.get("tls/a").count == 1)
            await unverifying.close()

            // Files that cannot be loaded are a configuration error, found before any call.
            var broken = configuration
            broken.tls?.keyFile = nil
            #expect(throws: EtcdClientError.self) { try EtcdClient(endpoints: [member.clientEndpoint], configuration: broken) }
            broken.tls = .init(trustedCAFile: directory.appending("missing.crt"))
            #expect(throws: EtcdClientError.self) { try EtcdClient(endpoints: [member.clientEndpoint], configuration: broken) }
        }
    }
}
