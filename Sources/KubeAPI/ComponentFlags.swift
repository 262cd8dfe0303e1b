import EtcdClient
import Foundation

/// The command line of a control-plane component: `--name value` or `--name=value` flags from a
/// known set, with the usage printed on a mistake; and the store every component starts with.
public struct ComponentFlags: Sendable {
    public let values: [String: String]

    /// Parses the process's arguments, exiting with status 2 and the usage on an unknown flag.
    public init(component: String, known: [String], usage: String) {
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("\(component): \(message)\n\n\(usage)\n".utf8))
            exit(2)
        }
        var values: [String: String] = [:]
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard known.contains(name) else { fail(name == "--help" || name == "-h" ? "usage" : "unknown flag \(name)") }
            guard let given = value ?? arguments.popFirst() else { fail("\(name) needs a value") }
            values[name] = given
        }
        self.values = values
        self.component = component
        self.usage = usage
    }

    let component: String
    let usage: String

    public subscript(name: String) -> String? { values[name] }

    /// A whole number flag, or the default; anything else exits with the usage.
    public func number(_ name: String, default value: Int) -> Int {
        guard let text = values[name] else { return value }
        guard let number = Int(text), number >= 0 else {
            FileHandle.standardError.write(Data("\(component): \(name) must be a whole number, not \(text)\n\n\(usage)\n".utf8))
            exit(2)
        }
        return number
    }

    /// A duration flag in Go's form ("40s", "5m0s", "1m30s", "500ms"), or the default; anything
    /// else exits with the usage.
    public func duration(_ name: String, default value: Duration) -> Duration {
        guard let text = values[name] else { return value }
        guard let parsed = Self.parseDuration(text) else {
            FileHandle.standardError.write(Data("\(component): \(name) must be a duration such as 40s or 5m0s, not \(text)\n\n\(usage)\n".utf8))
            exit(2)
        }
        return parsed
    }

    /// Go's time.ParseDuration for non-negative values: numbers each followed by h, m, s, ms, us or ns.
    public static func parseDuration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "h": scale = 3600
            case "m": scale = 60
            case "s": scale = 1
            case "ms": scale = 1e-3
            case "us", "µs": scale = 1e-6
            case "ns": scale = 1e-9
            default: return nil
            }
            total += value * scale
        }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    /// The store named by `--etcd-servers` (default http://127.0.0.1:2379).
    public func store() -> ObjectStore {
        let endpoints = (values["--etcd-servers"] ?? "http://127.0.0.1:2379").split(separator: ",").map(String.init)
        do {
            return ObjectStore(client: try EtcdClient(endpoints: endpoints),
                               eventTTL: Int64(number("--event-ttl", default: 3600)))
        } catch {
            FileHandle.standardError.write(Data("\(component): \(error)\n".utf8))
            exit(2)
        }
    }
}
