import EtcdClient
import EtcdProto
import Foundation

enum KVCommands {
    static let rangeFlags: [FlagSpec] = [
        .init(name: "prefix", kind: .bool, defaultValue: "false"),
        .init(name: "from-key", kind: .bool, defaultValue: "false"),
    ]

    static let getFlags: [FlagSpec] = rangeFlags + [
        .init(name: "consistency", kind: .value, defaultValue: "l"),
        .init(name: "order", kind: .value, defaultValue: ""),
        .init(name: "sort-by", kind: .value, defaultValue: ""),
        .init(name: "limit", kind: .value, defaultValue: "0"),
        .init(name: "rev", kind: .value, defaultValue: "0"),
        .init(name: "keys-only", kind: .bool, defaultValue: "false"),
        .init(name: "print-value-only", kind: .bool, defaultValue: "false"),
    ]

    static let putFlags: [FlagSpec] = [
        .init(name: "lease", kind: .value, defaultValue: "0"),
        .init(name: "prev-kv", kind: .bool, defaultValue: "false"),
        .init(name: "ignore-value", kind: .bool, defaultValue: "false"),
        .init(name: "ignore-lease", kind: .bool, defaultValue: "false"),
    ]

    static let delFlags: [FlagSpec] = rangeFlags + [.init(name: "prev-kv", kind: .bool, defaultValue: "false")]

    // MARK: Requests from arguments (shared by the commands and `txn`)

    static func rangeRequest(_ arguments: [String], _ flags: ParsedFlags) throws(CommandError) -> Etcdserverpb_RangeRequest {
        guard !arguments.isEmpty else {
            throw .badArguments("get command needs one argument as key and an optional argument as range_end")
        }
        var request = Etcdserverpb_RangeRequest()
        try applyRange(arguments, flags, command: "get", key: &request.key, rangeEnd: &request.rangeEnd)
        switch flags["consistency"] {
        case "s": request.serializable = true
        case "l": break
        default: throw .badFeature("unknown consistency flag \(goQuote(flags["consistency"]))")
        }
        guard let limit = Int64(flags["limit"]), let revision = Int64(flags["rev"]) else {
            throw .usage("invalid argument for --limit or --rev")
        }
        request.limit = limit
        request.revision = max(revision, 0)
        switch flags["order"].uppercased() {
        case "ASCEND": request.sortOrder = .ascend
        case "DESCEND": request.sortOrder = .descend
        case "": break
        default: throw .badFeature("bad sort order \(flags["order"])")
        }
        switch flags["sort-by"].uppercased() {
        case "CREATE": request.sortTarget = .create
        case "KEY", "": request.sortTarget = .key
        case "MODIFY": request.sortTarget = .mod
        case "VALUE": request.sortTarget = .value
        case "VERSION": request.sortTarget = .version
        default: throw .badFeature("bad sort target \(flags["sort-by"])")
        }
        // clientv3's WithSort: sorting by key ascending is the server's natural order, sent as none.
        if request.sortTarget == .key && request.sortOrder == .ascend { request.sortOrder = .none }
        request.keysOnly = flags.bool("keys-only")
        return request
    }

    static func putRequest(_ arguments: [String], _ flags: ParsedFlags, stdin: () -> String?) throws(CommandError) -> Etcdserverpb_PutRequest {
        let usage = "put command needs 1 argument and input from stdin or 2 arguments"
        guard !arguments.isEmpty else { throw .badArguments(usage) }
        var request = Etcdserverpb_PutRequest()
        request.key = Data(arguments[0].utf8)
        let ignoreValue = flags.bool("ignore-value")
        if ignoreValue && arguments.count > 1 {
            throw .badArguments("put command needs only 1 argument when 'ignore-value' is set")
        }
        if !ignoreValue {
            if arguments.count > 1 {
                request.value = Data(arguments[1].utf8)
            } else if let input = stdin() {
                request.value = Data(input.utf8)
            } else {
                throw .badArguments(usage)
            }
        }
        guard let lease = Int64(flags["lease"], radix: 16) else {
            throw .badArguments("bad lease ID (strconv.ParseInt: parsing \(goQuote(flags["lease"])): invalid syntax), expecting ID in Hex")
        }
        request.lease = lease
        request.prevKv = flags.bool("prev-kv")
        request.ignoreValue = ignoreValue
        request.ignoreLease = flags.bool("ignore-lease")
        return request
    }

    static func deleteRequest(_ arguments: [String], _ flags: ParsedFlags) throws(CommandError) -> Etcdserverpb_DeleteRangeRequest {
        guard !arguments.isEmpty else {
            throw .badArguments("del command needs one argument as key and an optional argument as range_end")
        }
        var request = Etcdserverpb_DeleteRangeRequest()
        try applyRange(arguments, flags, command: "del", key: &request.key, rangeEnd: &request.rangeEnd)
        request.prevKv = flags.bool("prev-kv")
        return request
    }

    /// The key and range end of get and del: `key [range_end]`, `--prefix`, `--from-key`.
    private static func applyRange(
        _ arguments: [String], _ flags: ParsedFlags, command: String, key: inout Data, rangeEnd: inout Data
    ) throws(CommandError) {
        let prefix = flags.bool("prefix")
        let fromKey = flags.bool("from-key")
        if prefix && fromKey {
            throw .badArguments("`--prefix` and `--from-key` cannot be set at the same time, choose one")
        }
        if arguments.count > 1 && (prefix || fromKey) {
            throw .badArguments("too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
        }
        key = Data(arguments[0].utf8)
        if arguments.count > 1 { rangeEnd = Data(arguments[1].utf8) }
        if prefix {
            if key.isEmpty {
                key = Data([0])
                rangeEnd = Data([0])
            } else {
                rangeEnd = prefixRangeEnd(key)
            }
        }
        if fromKey {
            if key.isEmpty { key = Data([0]) }
            rangeEnd = Data([0])
        }
    }

    // MARK: Commands

    static func get(_ invocation: Invocation) async throws {
        let request = try rangeRequest(invocation.arguments, invocation.flags)
        let response = try await invocation.client().range(request)
        var display = invocation.display
        if invocation.flags.bool("print-value-only") {
            guard display.format == .simple else {
                throw CommandError.badArguments("print-value-only is only for `--write-out=simple`")
            }
            display.valueOnly = true
        }
        try display.get(response)
    }

    static func put(_ invocation: Invocation) async throws {
        let request = try putRequest(invocation.arguments, invocation.flags, stdin: readStandardInput)
        try invocation.display.put(try await invocation.client().put(request))
    }

    static func del(_ invocation: Invocation) async throws {
        let request = try deleteRequest(invocation.arguments, invocation.flags)
        try invocation.display.delete(try await invocation.client().delete(request))
    }

    static func compaction(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else { throw CommandError.badArguments("compaction command needs 1 argument") }
        guard let revision = Int64(invocation.arguments[0]) else {
            throw CommandError.failed("strconv.ParseInt: parsing \(goQuote(invocation.arguments[0])): invalid syntax")
        }
        try await invocation.client().compact(revision, physical: invocation.flags.bool("physical"))
        invocation.display.compaction(revision)
    }

    /// All of standard input, or nil when it is empty (etcdctl's `argOrStdin`).
    static func readStandardInput() -> String? {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        return data.isEmpty ? nil : String(decoding: data, as: UTF8.self)
    }
}
