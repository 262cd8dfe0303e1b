import Crypto
import Foundation
import SwiftASN1
import X509

/// The certificate `--peer-auto-tls` (and `--auto-tls`) make at start-up, as etcd does: an ECDSA
/// P-256 key and a self-signed certificate for the hosts of the URLs, valid for a year, kept in
/// `<data-dir>/fixtures/<peer|client>` and reused on later starts.
package enum SelfSignedCertificate {
    package struct Files: Sendable, Hashable {
        package var certificate: String
        package var key: String
    }

    /// The certificate and key in `directory`, made first if missing.
    package static func ensure(in directory: String, hosts: [String], now: Date = Date()) throws -> Files {
        let files = Files(certificate: directory + "/cert.pem", key: directory + "/key.pem")
        let manager = FileManager.default
        if manager.fileExists(atPath: files.certificate) && manager.fileExists(atPath: files.key) { return files }
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                    attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { OrganizationName("etcd") }
        let names: [GeneralName] = Set(hosts).sorted().map { host in
            if let address = ipAddressBytes(host) { .ipAddress(ASN1OctetString(contentBytes: address[...])) } else { .dnsName(host) }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now, notValidAfter: now.addingTimeInterval(365 * 24 * 3600), issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        try write(try certificate.serializeAsPEM().pemString, to: files.certificate)
        try write(key.pemRepresentation, to: files.key)
        return files
    }

    private static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw StartupError("cannot write \(path)")
        }
    }

    private static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
