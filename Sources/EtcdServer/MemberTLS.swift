import NIOSSL

/// The TLS files of one side of a member (`--cert-file`… for clients, `--peer-cert-file`… for
/// peers), loaded into server configurations with etcd's rule (`transport.TLSInfo.ServerConfig`):
/// a trusted CA file, or client-cert-auth, makes the server require a certificate the CA signed.
struct MemberTLSFiles: Sendable {
    var certificateFile: String
    var keyFile: String
    /// Empty: the system's roots (and, for auto TLS, no verification at all).
    var trustedCAFile: String
    var clientCertAuth: Bool

    /// Whether connecting parties must present a certificate.
    var requiresCertificate: Bool { !trustedCAFile.isEmpty || clientCertAuth }

    func serverConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        if !trustedCAFile.isEmpty { server.trustRoots = .file(trustedCAFile) }
        // Clients connect by any of the member's addresses; the CA vouches for their certificates.
        if requiresCertificate { server.certificateVerification = .noHostnameVerification }
        return server
    }
}

/// TLS for `https://` peer URLs: a server context for the listeners and a client context for
/// dialing, both presenting the member's peer certificate (etcd uses it both ways).
///
/// With `--peer-trusted-ca-file`, peers' certificates are checked against that CA; without a CA
/// (`--peer-auto-tls`'s self-signed certificates) the channel is encrypted but the peer is not
/// verified, as etcd's auto TLS does.
struct PeerTLS: Sendable {
    let server: NIOSSLContext
    let client: NIOSSLContext

    init(_ files: MemberTLSFiles) throws {
        let server = try files.serverConfiguration()
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = server.certificateChain
        client.privateKey = server.privateKey
        if files.trustedCAFile.isEmpty {
            client.certificateVerification = .none
        } else {
            client.trustRoots = .file(files.trustedCAFile)
            // Peers are dialed by the addresses in their URLs; the CA vouches for the certificate.
            client.certificateVerification = .noHostnameVerification
        }
        self.server = try NIOSSLContext(configuration: server)
        self.client = try NIOSSLContext(configuration: client)
    }
}

/// TLS for `https://` client URLs. gRPC and the HTTP endpoints share the port, so ALPN offers
/// HTTP/1.1 first: gRPC clients offer only h2 and get it, while curl, which offers both, gets
/// HTTP/1.1 and so reaches `/health`, `/version` and `/metrics` as over plaintext.
struct ClientTLS: Sendable {
    let context: NIOSSLContext

    init(_ files: MemberTLSFiles) throws {
        var configuration = try files.serverConfiguration()
        configuration.applicationProtocols = ["http/1.1", "h2"]
        context = try NIOSSLContext(configuration: configuration)
    }
}
