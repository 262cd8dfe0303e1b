/// Command-line flags parsed as etcdctl's (cobra/pflag) are: `--name value`, `--name=value`,
/// `-w json`, `-wjson`, booleans as `--prefix` or `--prefix=false`, flags and arguments interleaved,
/// and `--` ending the flags.
struct FlagSpec: Sendable {
    /// `list` flags are pflag's string slices: comma separated, and each further use appends.
    enum Kind: Sendable { case bool, value, list }
    var name: String
    var shorthand: Character?
    var kind: Kind
    var defaultValue: String
}

/// The parsed flags of one invocation: values by flag name, defaults filled in.
struct ParsedFlags {
    private(set) var values: [String: String]
    /// The flags the user gave explicitly (on the command line or in the environment).
    private(set) var given: Set<String> = []
    /// Positional arguments, in order.
    var arguments: [String] = []
    /// Arguments after `--` (watch's exec command).
    var afterDashes: [String]? = nil

    init(specs: [FlagSpec]) {
        values = Dictionary(specs.map { ($0.name, $0.defaultValue) }, uniquingKeysWith: { first, _ in first })
    }

    subscript(_ name: String) -> String { values[name] ?? "" }

    func bool(_ name: String) -> Bool { values[name] == "true" }

    func isGiven(_ name: String) -> Bool { given.contains(name) }

    mutating func set(_ name: String, _ value: String) {
        values[name] = value
        given.insert(name)
    }

    mutating func append(_ name: String, _ value: String) {
        if given.contains(name), let current = values[name] {
            values[name] = current + "," + value
        } else {
            set(name, value)
        }
    }
}

enum FlagParser {
    /// Parses `arguments` against `specs`; `environment` fills flags in `environmentFlags` that the
    /// command line leaves unset (`ETCDCTL_DIAL_TIMEOUT` for `--dial-timeout`).
    static func parse(
        _ arguments: [String], specs: [FlagSpec], environment: [String: String], environmentFlags: Set<String>
    ) throws(CommandError) -> ParsedFlags {
        var parsed = ParsedFlags(specs: specs)
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let byShorthand = Dictionary(
            specs.compactMap { spec in spec.shorthand.map { ($0, spec) } }, uniquingKeysWith: { first, _ in first })
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                parsed.afterDashes = Array(arguments[index...])
                break
            }
            if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let inlineValue = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                guard let spec = byName[name] else { throw .usage("unknown flag: --\(name)") }
                let given = try value(for: spec, inline: inlineValue, shown: "--\(name)", arguments, &index)
                if spec.kind == .list { parsed.append(name, given) } else { parsed.set(name, given) }
            } else if argument.hasPrefix("-") && argument.count > 1 {
                let letter = argument.dropFirst().first!
                guard let spec = byShorthand[letter] else {
                    throw .usage("unknown shorthand flag: '\(letter)' in \(argument)")
                }
                var rest = String(argument.dropFirst(2))
                if rest.hasPrefix("=") { rest.removeFirst() }
                let inline = rest.isEmpty ? nil : rest
                parsed.set(spec.name, try value(for: spec, inline: inline, shown: "-\(letter)", arguments, &index))
            } else {
                parsed.arguments.append(argument)
            }
        }
        for name in environmentFlags where !parsed.isGiven(name) {
            let variable = "ETCDCTL_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable] { parsed.set(name, value) }
        }
        return parsed
    }

    private static func value(
        for spec: FlagSpec, inline: String?, shown: String, _ arguments: [String], _ index: inout Int
    ) throws(CommandError) -> String {
        switch spec.kind {
        case .bool:
            guard let inline else { return "true" }
            guard let value = parseGoBool(inline) else {
                throw .usage("invalid argument \"\(inline)\" for \"\(shown)\" flag: strconv.ParseBool: parsing \"\(inline)\": invalid syntax")
            }
            return value ? "true" : "false"
        case .value, .list:
            if let inline { return inline }
            guard index < arguments.count else { throw .usage("flag needs an argument: \(shown)") }
            index += 1
            return arguments[index - 1]
        }
    }

    /// Go's strconv.ParseBool.
    static func parseGoBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }
}

extension Duration {
    /// Parses a Go duration ("5s", "500ms", "1m30s", "2h"); nil if malformed.
    init?(goDuration text: String) {
        if text == "0" { self = .zero; return }
        var rest = Substring(text)
        var total = 0.0
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                return nil
            }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        self = .nanoseconds(Int64(total * 1e9))
    }
}
