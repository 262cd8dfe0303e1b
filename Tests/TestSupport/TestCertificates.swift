import Foundation

/// A throwaway CA with a server certificate (for 127.0.0.1 and localhost, usable both ways, as
/// etcd members use theirs) and a client certificate it signed, made with `openssl` in a test's
/// directory; plus a second, unrelated CA for certificates that must be refused.
public struct TestCertificates: Sendable {
    public let ca: String
    public let serverCertificate: String
    public let serverKey: String
    public let clientCertificate: String
    public let clientKey: String
    /// A CA that signed nothing here: trusting it must fail every handshake.
    public let strangerCA: String

    public init(in directory: TemporaryDirectory) throws {
        let base = directory.appending("pki")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        ca = base + "/ca.crt"
        serverCertificate = base + "/server.crt"
        serverKey = base + "/server.key"
        clientCertificate = base + "/client.crt"
        clientKey = base + "/client.key"
        strangerCA = base + "/stranger.crt"
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
            .write(toFile: base + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: base + "/client.ext", atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            ["req", "-x509"] + newKey + ["-keyout", base + "/ca.key", "-out", ca, "-days", "2", "-subj", "/CN=test-ca"],
            ["req", "-x509"] + newKey + ["-keyout", base + "/stranger.key", "-out", strangerCA, "-days", "2",
                                         "-subj", "/CN=stranger-ca"],
            ["req"] + newKey + ["-keyout", serverKey, "-out", base + "/server.csr", "-subj", "/CN=etcd"],
            ["x509", "-req", "-in", base + "/server.csr", "-CA", ca, "-CAkey", base + "/ca.key", "-CAcreateserial",
             "-out", serverCertificate, "-days", "2", "-extfile", base + "/server.ext"],
            ["req"] + newKey + ["-keyout", clientKey, "-out", base + "/client.csr", "-subj", "/CN=client"],
            ["x509", "-req", "-in", base + "/client.csr", "-CA", ca, "-CAkey", base + "/ca.key", "-CAcreateserial",
             "-out", clientCertificate, "-days", "2", "-extfile", base + "/client.ext"],
        ]
        for command in commands {
            let result = try runProcess("/usr/bin/openssl", command)
            guard result.exitCode == 0 else {
                throw TestSupportError.commandFailed("openssl \(command.joined(separator: " ")): \(result.stderr)")
            }
        }
    }
}
