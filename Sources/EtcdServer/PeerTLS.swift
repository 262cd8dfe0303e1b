import NIOSSL

/// TLS for `https://` peer URLs: a server context for the listeners and a client context for
/// dialing, both presenting the member's peer certificate (etcd uses it both ways).
///
/// With `--peer-trusted-ca-file`, peers' certificates are checked against that CA (and with
/// `--peer-client-cert-auth` a dialing peer must present one); without a CA (`--peer-auto-tls`'s
/// self-signed certificates) the channel is encrypted but the peer is not verified, as etcd's
/// auto TLS does.
struct PeerTLS: Sendable {
    let server: NIOSSLContext
    let client: NIOSSLContext

    init(certificateFile: String, keyFile: String, trustedCAFile: String, clientCertAuth: Bool) throws {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain
        client.privateKey = key
        if trustedCAFile.isEmpty {
            client.certificateVerification = .none
        } else {
            let roots = NIOSSLTrustRoots.file(trustedCAFile)
            client.trustRoots = roots
            // Peers are dialed by the addresses in their URLs; the CA vouches for the certificate.
            client.certificateVerification = .noHostnameVerification
            server.trustRoots = roots
            if clientCertAuth { server.certificateVerification = .noHostnameVerification }
        }
        self.server = try NIOSSLContext(configuration: server)
        self.client = try NIOSSLContext(configuration: client)
    }
}
