import EtcdClient
import EtcdProto
import Foundation

/// `etcdctl txn`: compares, success and failure requests read from standard input, each block
/// ended by an empty line, in etcdctl's syntax (`mod("key") > "5"`, `put key value`).
enum TxnCommand {
    static func run(_ invocation: Invocation) async throws {
        guard invocation.arguments.isEmpty else { throw CommandError.badArguments("txn command does not accept argument") }
        let interactive = invocation.flags.bool("interactive")
        var lines = LineReader()
        var request = Etcdserverpb_TxnRequest()
        if interactive { print("compares:") }
        request.compare = try lines.block().map(parseCompare)
        if interactive { print("success requests (get, put, del):") }
        request.success = try lines.block().map(parseOperation)
        if interactive { print("failure requests (get, put, del):") }
        request.failure = try lines.block().map(parseOperation)
        try invocation.display.txn(try await invocation.client().txn(request))
    }

    static func parseCompare(_ line: String) throws(CommandError) -> Etcdserverpb_Compare {
        guard let open = line.firstIndex(of: "(") else { throw .invalidInput("malformed comparison: \(line)") }
        let target = String(line[..<open])
        // Go's Sscanf("%q) %s %q") stops at the first mismatch; its message shows what it had read.
        var scanner = QuotedScanner(line[line.index(after: open)...])
        let key = scanner.quoted()
        let closed = key != nil && scanner.literal(")")
        let op = closed ? scanner.word() : nil
        let value = op != nil ? scanner.quoted() : nil
        guard let key, let op, let value else {
            throw .invalidInput("malformed comparison: \(line); got \(target)(\(goQuote(key ?? ""))) \(op ?? "") \(goQuote(value ?? ""))")
        }
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        switch op {
        case "=", "==": compare.result = .equal
        case "!=": compare.result = .notEqual
        case ">": compare.result = .greater
        case "<": compare.result = .less
        default: throw .invalidInput("malformed comparison: \(line) (unknown op \(op))")
        }
        func number() throws(CommandError) -> Int64 {
            guard let number = Int64(value) else { throw .invalidInput("invalid txn compare request: \(line)") }
            return number
        }
        switch target {
        case "ver", "version": compare.target = .version; compare.version = try number()
        case "c", "create": compare.target = .create; compare.createRevision = try number()
        case "m", "mod": compare.target = .mod; compare.modRevision = try number()
        case "val", "value": compare.target = .value; compare.value = Data(value.utf8)
        case "lease": compare.target = .lease; compare.lease = try number()
        default: throw .invalidInput("malformed comparison: \(line) (unknown target \(target))")
        }
        return compare
    }

    static func parseOperation(_ line: String) throws(CommandError) -> Etcdserverpb_RequestOp {
        let words = argify(line)
        guard words.count >= 2 else { throw .invalidInput("invalid txn compare request: \(line)") }
        let specs: [FlagSpec]
        switch words[0] {
        case "get": specs = KVCommands.getFlags
        case "put": specs = KVCommands.putFlags
        case "del": specs = KVCommands.delFlags
        default: throw .invalidInput("invalid txn request: \(line)")
        }
        let flags: ParsedFlags
        do {
            flags = try FlagParser.parse(Array(words.dropFirst()), specs: specs, environment: [:], environmentFlags: [])
        } catch {
            throw .invalidInput("invalid txn request: \(line)")
        }
        // Argument errors of the operation end etcdctl with that command's own error, as in etcdctl.
        var op = Etcdserverpb_RequestOp()
        switch words[0] {
        case "get": op.requestRange = try KVCommands.rangeRequest(flags.arguments, flags)
        case "put": op.requestPut = try KVCommands.putRequest(flags.arguments, flags, stdin: { nil })
        default: op.requestDeleteRange = try KVCommands.deleteRequest(flags.arguments, flags)
        }
        return op
    }
}

/// Reads standard input line by line.
struct LineReader {
    /// The lines up to the next empty line (or the end of input), trimmed.
    mutating func block() throws(CommandError) -> [String] {
        var lines: [String] = []
        while true {
            guard let line = readLine(strippingNewline: true) else {
                if lines.isEmpty { throw .invalidInput("EOF") }
                return lines
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { return lines }
            lines.append(trimmed)
        }
    }
}

/// etcdctl's `argify`: the words of a line as its regular expression
/// `"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?` finds them. A double-quoted word is unquoted
/// with Go's escapes. A single-quoted one is cut as etcdctl 3.4 cuts it, from its second byte to
/// the byte at (number of words - 1), which is its end only by chance (`'a b'` as one of three
/// words gives `a`); where etcdctl would panic on that cut, the quotes are just removed.
func argify(_ line: String) -> [String] {
    let bytes = Array(line.utf8)
    let space: Set<UInt8> = [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]
    let doubleQuote = UInt8(ascii: "\""), singleQuote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
    var tokens: [ArraySlice<UInt8>] = []
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if byte == doubleQuote {
            var end = index + 1
            while end < bytes.count && bytes[end] != doubleQuote { end += bytes[end] == backslash ? 2 : 1 }
            if end < bytes.count {
                tokens.append(bytes[index...end])
                index = end + 1
                continue
            }
        } else if byte == singleQuote {
            if let end = bytes[(index + 1)...].firstIndex(of: singleQuote) {
                tokens.append(bytes[index...end])
                index = end + 1
                continue
            }
        } else if !space.contains(byte) {
            var end = index + 1
            while end < bytes.count && !space.contains(bytes[end]) { end += 1 }
            tokens.append(bytes[index..<end])
            index = end
            continue
        }
        index += 1
    }
    return tokens.map { token in
        let text = String(decoding: token, as: UTF8.self)
        switch token.first {
        case singleQuote:
            let cut = tokens.count - 1
            if cut >= 1 && cut <= token.count { return String(decoding: token.dropFirst().prefix(cut - 1), as: UTF8.self) }
            return String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
        case doubleQuote:
            var scanner = QuotedScanner(Substring(text))
            return scanner.quoted() ?? text
        default:
            return text
        }
    }
}

/// A tiny scanner for etcdctl's stdin syntaxes: Go-quoted strings and space-separated words.
struct QuotedScanner {
    private var rest: Substring

    init(_ text: Substring) { rest = text }

    var atEnd: Bool { rest.isEmpty }
    var peek: Character? { rest.first }

    mutating func skipSpaces() { rest = rest.drop { $0 == " " || $0 == "\t" } }

    mutating func literal(_ text: String) -> Bool {
        skipSpaces()
        guard rest.hasPrefix(text) else { return false }
        rest = rest.dropFirst(text.count)
        return true
    }

    mutating func word() -> String? {
        skipSpaces()
        let word = rest.prefix { $0 != " " && $0 != "\t" }
        guard !word.isEmpty else { return nil }
        rest = rest.dropFirst(word.count)
        return String(word)
    }

    /// A double-quoted string with Go's escapes.
    mutating func quoted() -> String? {
        skipSpaces()
        guard rest.first == "\"" else { return nil }
        var index = rest.index(after: rest.startIndex)
        var value = ""
        while index < rest.endIndex {
            let character = rest[index]
            if character == "\"" {
                rest = rest[rest.index(after: index)...]
                return value
            }
            if character == "\\" {
                index = rest.index(after: index)
                guard index < rest.endIndex else { return nil }
                switch rest[index] {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "\\": value.append("\\")
                case "\"": value.append("\"")
                default: value.append(rest[index])
                }
            } else {
                value.append(character)
            }
            index = rest.index(after: index)
        }
        return nil
    }
}
