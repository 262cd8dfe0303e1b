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
