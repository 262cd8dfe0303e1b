/// One etcd client endpoint, as etcdctl's `--endpoints` takes it: `host:port`, `http://host:port`
/// or `https://host:port` (an IPv6 host in brackets).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The host name or address, without brackets.
    public var host: String
    /// The TCP port.
    public var port: Int
    /// Whether the endpoint was given as `https://`.
    public var usesTLS: Bool

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "https" : "http")://\(shownHost):\(port)"
    }

    /// Parses an endpoint; the scheme defaults to http, as in etcdctl.
    public init(parsing text: String) throws(EtcdClientError) {
        var rest = Substring(text)
        usesTLS = false
        if rest.hasPrefix("https://") {
            usesTLS = true
            rest = rest.dropFirst("https://".count)
        } else if rest.hasPrefix("http://") {
            rest = rest.dropFirst("http://".count)
        } else if rest.contains("://") {
            throw .invalidEndpoint(text, "unknown scheme (use http:// or https://)")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let hostPart: Substring
        let portPart: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw .invalidEndpoint(text, "expected [ipv6-address]:port")
            }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            portPart = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw .invalidEndpoint(text, "missing port") }
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw .invalidEndpoint(text, "missing host") }
        guard let port = Int(portPart), (1...65535).contains(port) else {
            throw .invalidEndpoint(text, "invalid port")
        }
        host = String(hostPart)
        self.port = port
    }

    /// Creates an endpoint from its parts.
    public init(host: String, port: Int, usesTLS: Bool = false) {
        self.host = host
        self.port = port
        self.usesTLS = usesTLS
    }
}

/// A mistake in how the client was set up or called, found before any request was sent.
public enum EtcdClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An endpoint string could not be parsed.
    case invalidEndpoint(String, String)
    /// The client was given no endpoints.
    case noEndpoints
    /// The client was closed before the call.
    case closed
    /// TLS endpoints need the TLS configuration, which this client does not have yet.
    case tlsNotSupported(Endpoint)

    public var description: String {
        switch self {
        case .invalidEndpoint(let text, let why): return "invalid endpoint \"\(text)\": \(why)"
        case .noEndpoints: return "no endpoints given"
        case .closed: return "the etcd client is closed"
        case .tlsNotSupported(let endpoint): return "TLS is not supported yet (endpoint \(endpoint))"
        }
    }
}
