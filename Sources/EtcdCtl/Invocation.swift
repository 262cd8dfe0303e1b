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
    func client(endpoints: [String]? = nil) throws(CommandError) -> EtcdClient {
        if endpoints == nil, let cachedClient { return cachedClient }
        var configuration = EtcdClient.Configuration()
        configuration.requestTimeout = try duration("command-timeout")
        configuration.dialTimeout = try duration("dial-timeout")
        configuration.keepaliveTime = try duration("keepalive-time")
        configuration.keepaliveTimeout = try duration("keepalive-timeout")
        if !flags["user"].isEmpty || !flags["cert"].isEmpty || !flags["cacert"].isEmpty {
            throw .badFeature("authentication and TLS arrive with the server's security work")
        }
        do {
            let client = try EtcdClient(endpoints: endpoints ?? self.endpoints, configuration: configuration)
            if endpoints == nil { cachedClient = client }
            return client
        } catch {
            throw .badConnection("\(error)")
        }
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
        case .unavailable, .deadlineExceeded: return .failed("context deadline exceeded")
        default: return .failed(etcdError.message)
        }
    }
    return .failed("\(error)")
}
