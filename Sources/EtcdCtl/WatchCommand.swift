import EtcdClient
import EtcdProto
import Foundation

/// `etcdctl watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]`.
enum WatchCommand {
    static let flags: [FlagSpec] = [
        .init(name: "interactive", shorthand: "i", kind: .bool, defaultValue: "false"),
        .init(name: "prefix", kind: .bool, defaultValue: "false"),
        .init(name: "rev", kind: .value, defaultValue: "0"),
        .init(name: "prev-kv", kind: .bool, defaultValue: "false"),
    ]

    static func run(_ invocation: Invocation) async throws {
        guard !invocation.flags.bool("interactive") else {
            throw CommandError.badFeature("interactive watch is not supported yet")
        }
        var arguments = invocation.arguments
        let environment = ProcessInfo.processInfo.environment
        if let key = environment["ETCDCTL_WATCH_KEY"], arguments.isEmpty {
            arguments = [key] + (environment["ETCDCTL_WATCH_RANGE_END"].map { [$0] } ?? [])
        } else if environment["ETCDCTL_WATCH_KEY"] == nil, let end = environment["ETCDCTL_WATCH_RANGE_END"], !end.isEmpty {
            throw CommandError.badArguments("ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\(goQuote(end))")
        }
        // As etcdctl's getWatchChan: the first argument is the key, a second one (only when there
        // are exactly two) the range end; further words are ignored.
        guard !arguments.isEmpty else { throw CommandError.badArguments("bad number of arguments") }
        var request = Etcdserverpb_WatchCreateRequest()
        request.key = Data(arguments[0].utf8)
        if arguments.count == 2 {
            if invocation.flags.bool("prefix") {
                throw CommandError.badArguments("`range_end` and `--prefix` are mutually exclusive")
            }
            request.rangeEnd = Data(arguments[1].utf8)
        } else if invocation.flags.bool("prefix") {
            if request.key.isEmpty { request.key = Data([0]); request.rangeEnd = Data([0]) }
            else { request.rangeEnd = prefixRangeEnd(request.key) }
        }
        request.startRevision = Int64(invocation.flags["rev"]) ?? 0
        request.prevKv = invocation.flags.bool("prev-kv")
        let command = invocation.flags.afterDashes ?? []

        do {
            for try await response in try invocation.client().watch(request) {
                try invocation.display.watch(response)
                flushStandardOutput()
                if !command.isEmpty { try runCommand(command, for: response) }
            }
        } catch let error as EtcdError where error.code == .compacted || error.code == .watchCanceled {
            FileHandle.standardError.write(Data("watch was canceled (\(error.message))\n".utf8))
            throw CommandError.interrupted("watch is canceled by the server")
        }
    }

    /// Runs the exec command once per event with ETCD_WATCH_* describing it (Go-quoted), as etcdctl does.
    private static func runCommand(_ command: [String], for response: Etcdserverpb_WatchResponse) throws {
        for event in response.events {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
            var environment = ProcessInfo.processInfo.environment
            environment["ETCD_WATCH_REVISION"] = "\(response.header.revision)"
            environment["ETCD_WATCH_EVENT_TYPE"] = goQuote(event.type == .put ? "PUT" : "DELETE")
            environment["ETCD_WATCH_KEY"] = goQuote(event.kv.key)
            environment["ETCD_WATCH_VALUE"] = goQuote(event.kv.value)
            process.environment = environment
            try process.run()
            process.waitUntilExit()
            flushStandardOutput()
        }
    }
}
