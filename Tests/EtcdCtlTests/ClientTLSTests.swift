import Foundation
import Testing
import TestSupport

/// Clients over TLS: Debian's etcd and ours serve `https://` client URLs, and Debian's etcdctl
/// and ours run the same command lines against both. Every combination must give the same exit
/// code, output and error line: verified servers, required client certificates, a CA that
/// signed nothing, plaintext to a TLS port, and etcdctl's own checks of its TLS flags.
@Suite(.serialized) struct ClientTLSTests {
    struct Case: Sendable {
        var arguments: [String]
        var exitCode: Int32
    }

    /// The servers require a client certificate signed by the test CA (`--client-cert-auth`).
    static func verifiedCases(_ pki: TestCertificates, endpoint: String) -> [Case] {
        let verified = ["--endpoints", endpoint, "--cacert", pki.ca, "--cert", pki.clientCertificate,
                        "--key", pki.clientKey]
        let quick = ["--command-timeout", "1s", "--dial-timeout", "1s"]
        return [
            Case(arguments: verified + ["put", "tls/k", "v1"], exitCode: 0),
            Case(arguments: verified + ["get", "tls/k"], exitCode: 0),
            // An https:// endpoint, and TLS without checking the server (no --cacert).
            Case(arguments: ["--endpoints", "https://" + endpoint, "--cacert", pki.ca, "--cert", pki.clientCertificate,
                             "--key", pki.clientKey, "get", "tls/k", "--print-value-only"], exitCode: 0),
            Case(arguments: ["--endpoints", endpoint, "--insecure-skip-tls-verify", "--cert", pki.clientCertificate,
                             "--key", pki.clientKey, "put", "tls/k", "v2"], exitCode: 0),
            Case(arguments: verified + ["txn"], exitCode: 0),
            Case(arguments: verified + ["endpoint", "health"], exitCode: 0),
            // Refused: no client certificate; a server the CA did not sign; plaintext to TLS.
            Case(arguments: ["--endpoints", endpoint, "--cacert", pki.ca, "get", "tls/k"] + quick, exitCode: 1),
            Case(arguments: ["--endpoints", endpoint, "--cacert", pki.strangerCA, "--cert", pki.clientCertificate,
                             "--key", pki.clientKey, "get", "tls/k"] + quick, exitCode: 1),
            Case(arguments: ["--endpoints", "http://" + endpoint, "--cacert", pki.ca, "--cert", pki.clientCertificate,
                             "--key", pki.clientKey, "get", "tls/k"] + quick, exitCode: 1),
            Case(arguments: ["--endpoints", endpoint, "get", "tls/k"] + quick, exitCode: 1),
            // etcdctl's checks of its flags, before any connection.
            Case(arguments: ["--endpoints", endpoint, "--cert", pki.clientCertificate, "get", "tls/k"], exitCode: 128),
            Case(arguments: ["--endpoints", endpoint, "--cacert=", "get", "tls/k"], exitCode: 128),
            Case(arguments: ["--endpoints", endpoint, "--cacert", "/nonexistent/ca.crt", "get", "tls/k"], exitCode: 128),
        ]
    }

    @Test func bothEtcdctlsAgreeOverTLSWithClientCertificates() async throws {
        try await TemporaryDirectory.with(prefix: "client-tls") { directory in
            let pki = try TestCertificates(in: directory)
            let tls = EtcdMember.ClientTLS(
                serverArguments: ["--cert-file", pki.serverCertificate, "--key-file", pki.serverKey,
                                  "--trusted-ca-file", pki.ca, "--client-cert-auth"],
                curlArguments: ["--cacert", pki.ca, "--cert", pki.clientCertificate, "--key", pki.clientKey])
            try await Self.compare(directory: directory, tls: tls, cases: { endpoint in
                Self.verifiedCases(pki, endpoint: endpoint)
            }, afterwards: { reference, ours in
                // python3-etcd3 (grpcio) over the same TLS.
                let outputs = try [reference, ours].map { server in
                    try runProcess("/usr/bin/python3", ["-c", Self.pythonScript, String(server.clientPort), pki.ca,
                                                        pki.clientCertificate, pki.clientKey])
                }
                #expect(outputs[0].exitCode == 0 && outputs[0].stdout.contains("watched put py/w 2"), "\(outputs[0])")
                #expect(outputs[1] == outputs[0])
            })
        }
    }

    static let pythonScript = #"""
import sys, etcd3
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = etcd3.client(host="127.0.0.1", port=port, ca_cert=ca, cert_cert=cert, cert_key=key, timeout=10)
c.put("py/w", "1")
value, meta = c.get("py/w")
print("get", value.decode(), meta.version)
events, cancel = c.watch("py/w", start_revision=meta.mod_revision + 1)
c.put("py/w", "2")
for event in events:
    print("watched", "put" if type(event).__name__ == "PutEvent" else "delete", event.key.decode(), event.value.decode())
    break
cancel()
print("deleted", c.delete("py/w"))
"""#

    /// `--auto-tls`: a self-signed certificate, so clients connect only without verifying it.
    @Test func bothEtcdctlsAgreeOverAutoTLS() async throws {
        try await TemporaryDirectory.with(prefix: "auto-tls") { directory in
            let pki = try TestCertificates(in: directory)
            let tls = EtcdMember.ClientTLS(serverArguments: ["--auto-tls"], curlArguments: ["-k"])
            try await Self.compare(directory: directory, tls: tls, cases: { endpoint in
                let quick = ["--command-timeout", "1s", "--dial-timeout", "1s"]
                return [
                    Case(arguments: ["--endpoints", endpoint, "--insecure-transport=false", "--insecure-skip-tls-verify",
                                     "put", "auto/k", "v"], exitCode: 0),
                    Case(arguments: ["--endpoints", "https://" + endpoint, "--insecure-skip-tls-verify",
                                     "--insecure-transport=false", "get", "auto/k"], exitCode: 0),
                    // The certificate is self-signed: verifying it fails.
                    Case(arguments: ["--endpoints", endpoint, "--insecure-transport=false", "get", "auto/k"] + quick,
                         exitCode: 1),
                    Case(arguments: ["--endpoints", endpoint, "--cacert", pki.ca, "get", "auto/k"] + quick, exitCode: 1),
                ]
            }, afterwards: { reference, ours in
                // /health over TLS with curl, which negotiates HTTP/1.1 or HTTP/2 by ALPN.
                for server in [reference, ours] {
                    let health = try runProcess("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(server.clientPort)/health"])
                    #expect(health.stdout.contains("\"health\":\"true\""), "\(server.name): \(health)")
                }
            })
        }
    }

    /// Starts Debian's etcd and ours with `tls`, runs every case with both etcdctls against each,
    /// and expects the four results of a case to agree and to exit as the case says.
    static func compare(directory: TemporaryDirectory, tls: EtcdMember.ClientTLS,
                        cases: (_ endpoint: String) -> [Case],
                        afterwards: (_ reference: EtcdMember, _ ours: EtcdMember) throws -> Void) async throws {
        let reference = try await EtcdMember.start(in: directory, name: "reference", clientTLS: tls)
        let ours: EtcdMember
        do {
            ours = try await EtcdMember.start(in: directory, name: "ours", executable: try builtExecutable("etcd"),
                                              clientTLS: tls)
        } catch {
            await reference.stop()
            throw error
        }
        defer { Task { await reference.stop(); await ours.stop() } }
        let servers = [reference, ours]
        let clients = ["/usr/bin/etcdctl", try oursEtcdctlPath()]
        let perServer = servers.map { cases($0.clientEndpoint) }
        for index in perServer[0].indices {
            var results: [(String, EtcdctlResult)] = []
            for (server, serverCases) in zip(servers, perServer) {
                for client in clients {
                    let raw = try Side.execute(client, serverCases[index].arguments,
                                               stdin: serverCases[index].arguments.last == "txn"
                                                   ? "\nput tls/t 1\n\n\n" : nil)
                    let shown = "\(client == clients[0] ? "debian" : "our") etcdctl → \(server.name)"
                    results.append((shown, normalise(raw, port: server.clientPort)))
                }
            }
            let line = perServer[0][index].arguments.joined(separator: " ")
            for (shown, result) in results {
                #expect(result.exitCode == perServer[0][index].exitCode, "\(shown): \(line)\n\(result)")
                #expect(result == results[0].1, "\(shown) differs from \(results[0].0): \(line)")
            }
        }
        try afterwards(reference, ours)
    }

    /// Ports and timings removed; of stderr only the `Error:` line (Go's client logs retries as JSON).
    static func normalise(_ result: EtcdctlResult, port: Int) -> EtcdctlResult {
        func clean(_ text: String) -> String {
            text.replacingOccurrences(of: "127.0.0.1:\(port)", with: "<ENDPOINT>")
                .replacing(/took = [0-9.]+[µnm]?s/, with: "took = <T>")
        }
        let errorLines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        return EtcdctlResult(exitCode: result.exitCode, stdout: clean(result.stdout),
                             stderr: clean(errorLines.joined(separator: "\n")))
    }
}
