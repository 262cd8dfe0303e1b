import EtcdClient
import Foundation

/// One run of etcdctl: the global flags, the command's flags and arguments, and the client.
final class Invocation {
    let flags: ParsedFlags
    let display: Display
    private var cachedClient: EtcdClient?

    init(flags: ParsedFlags) throws(CommandError) {
        self.flags = flags
        guard let format = OutputFormat(rawValue: flags["write-out"]) else {
            throw .badFeature("unsupported output format")
        }
        display = Display(format: format, hex: flags.bool("hex"))
    }

    var arguments: [String] { flags.arguments }

    /// The endpoints of `--endpoints` (or `ETCDCTL_ENDPOINTS`).
    var endpoints: [String] {
        flags["endpoints"].split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    func duration(_ name: String) throws(CommandError) -> Duration {
        guard let value = Duration(goDuration: flags[name]) else {
            throw .usage("invalid argument \"\(flags[name])\" for \"--\(name)\" flag: time: invalid duration \(goQuote(flags[name]))")
        }
        return value
    }

    /// The client of `endpoints` (by default the global `--endpoints`).
    /// `requestTimeout` replaces `--command-timeout` (for calls etcdctl makes without a deadline).
    func client(endpoints: [String]? = nil, tls: EtcdClient.TLSConfiguration?? = nil,
                requestTimeout: Duration? = nil) throws(CommandError) -> EtcdClient {
        if endpoints == nil && requestTimeout == nil, let cachedClient { return cachedClient }
        var configuration = EtcdClient.Configuration()
        if let requestTimeout {
            configuration.requestTimeout = requestTimeout
        } else {
            configuration.requestTimeout = try duration("command-timeout")
        }
        configuration.dialTimeout = try duration("dial-timeout")
        configuration.keepaliveTime = try duration("keepalive-time")
        configuration.keepaliveTimeout = try duration("keepalive-timeout")
        configuration.credentials = try credentials()
        if let tls {
            configuration.tls = tls
        } else {
            configuration.tls = try tlsConfiguration(cert: "cert", key: "key", cacert: "cacert",
                                                     insecureTransport: "insecure-transport")
        }
        do {
            let client = try EtcdClient(endpoints: endpoints ?? self.endpoints, configuration: configuration)
            if endpoints == nil && requestTimeout == nil { cachedClient = client }
            return client
        } catch {
            throw .badConnection("\(error)")
        }
    }

    /// etcdctl's `authCfgFromCmd`: `--user name:password`, or `--user name --password secret`, or
    /// `--user name` and the password asked for on the terminal.
    private var askedCredentials: EtcdCredentials?
    func credentials() throws(CommandError) -> EtcdCredentials? {
        let user = flags["user"], password = flags["password"]
        guard !user.isEmpty else { return nil }
        if !password.isEmpty { return EtcdCredentials(user: user, password: password) }
        if let colon = user.firstIndex(of: ":") {
            return EtcdCredentials(user: String(user[..<colon]), password: String(user[user.index(after: colon)...]))
        }
        if let askedCredentials { return askedCredentials }
        let asked = EtcdCredentials(user: user, password: Password.ask("Password: "))
        askedCredentials = asked
        return asked
    }

    /// etcdctl's TLS from its flags (`newClientCfg`): any of the certificate flags, or
    /// `--insecure-transport=false`, makes bare endpoints use TLS; `--insecure-skip-tls-verify`
    /// then stops checking the server's certificate. The global flags are checked for empty
    /// values; make-mirror's destination flags are not, and skip no verification, as in etcdctl.
    func tlsConfiguration(cert: String, key: String, cacert: String, insecureTransport: String, global: Bool = true)
        throws(CommandError) -> EtcdClient.TLSConfiguration? {
        for name in [cert, key, cacert] where global && flags.isGiven(name) && flags[name].isEmpty {
            throw .badArguments("empty string is passed to --\(name) option")
        }
        let certificate = flags[cert], privateKey = flags[key], trustedCA = flags[cacert]
        var tls: EtcdClient.TLSConfiguration?
        if !certificate.isEmpty || !privateKey.isEmpty || !trustedCA.isEmpty {
            if certificate.isEmpty != privateKey.isEmpty {
                throw .badArguments("KeyFile and CertFile must both be present[key: \(privateKey), cert: \(certificate)]")
            }
            for file in [certificate, privateKey, trustedCA] where !file.isEmpty
            && !FileManager.default.isReadableFile(atPath: file) {
                throw .badArguments("open \(file): no such file or directory")
            }
            tls = EtcdClient.TLSConfiguration(trustedCAFile: trustedCA.isEmpty ? nil : trustedCA,
                                              certificateFile: certificate.isEmpty ? nil : certificate,
                                              keyFile: privateKey.isEmpty ? nil : privateKey)
        } else if !flags.bool(insecureTransport) {
            tls = EtcdClient.TLSConfiguration()
        }
        if global && flags.bool("insecure-skip-tls-verify") { tls?.verifiesServer = false }
        return tls
    }

    func close() async {
        await cachedClient?.close()
    }
}

/// etcdctl's message for a failed call: etcd's own message, or "context deadline exceeded" when
/// no member answered in time.
func failure(_ error: any Error) -> CommandError {
    if let commandError = error as? CommandError { return commandError }
    if let etcdError = error as? EtcdError {
        switch etcdError.code {
        // Only authenticating with --user fails this way; etcdctl fails to make its client then.
        case .authFailed: return .badConnection(etcdError.message)
        case .unavailable, .deadlineExceeded: return .failed("context deadline exceeded")
        default: return .failed(etcdError.message)
        }
    }
    return .failed("\(error)")
}
