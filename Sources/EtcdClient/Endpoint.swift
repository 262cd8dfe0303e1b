/// One etcd client endpoint, as etcdctl's `--endpoints` takes it: `host:port`, `http://host:port`
/// or `https://host:port` (an IPv6 host in brackets).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The host name or address, without brackets.
    public var host: String
    /// The TCP port.
    public var port: Int
    /// The scheme the endpoint was given with; nil for a bare `host:port`.
    public var scheme: Scheme?

    /// How an endpoint says whether to use TLS.
    public enum Scheme: String, Hashable, Sendable {
        /// `http://`: plaintext, even when the client has a TLS configuration.
        case http
        /// `https://`: TLS, with the client's TLS configuration or the system's trust roots.
        case https
    }

    /// Whether calls to this endpoint use TLS when the client has a TLS configuration or not
    /// (`hasTLSConfiguration`), as etcd's clientv3 decides: `https://` always, `http://` never, a
    /// bare `host:port` when TLS is configured.
    public func usesTLS(hasTLSConfiguration: Bool) -> Bool {
        switch scheme {
        case .https: true
        case .http: false
        case nil: hasTLSConfiguration
        }
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return (scheme.map { "\($0.rawValue)://" } ?? "") + "\(shownHost):\(port)"
    }

    /// Parses an endpoint.
    public init(parsing text: String) throws(EtcdClientError) {
        var rest = Substring(text)
        scheme = nil
        if rest.hasPrefix("https://") {
            scheme = .https
            rest = rest.dropFirst("https://".count)
        } else if rest.hasPrefix("http://") {
            scheme = .http
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
    public init(host: String, port: Int, scheme: Scheme? = nil) {
        self.host = host
        self.port = port
        self.scheme = scheme
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
    /// The TLS files could not be loaded (a missing or unreadable certificate, key or CA file).
    case invalidTLSConfiguration(String)

    public var description: String {
        switch self {
        case .invalidEndpoint(let text, let why): return "invalid endpoint \"\(text)\": \(why)"
        case .noEndpoints: return "no endpoints given"
        case .closed: return "the etcd client is closed"
        case .invalidTLSConfiguration(let why): return why
        }
    }
}
