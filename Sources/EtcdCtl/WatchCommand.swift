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
        if invocation.flags.bool("interactive") { return try await runInteractive(invocation) }
        var arguments = invocation.arguments
        let environment = ProcessInfo.processInfo.environment
        if let key = environment["ETCDCTL_WATCH_KEY"], arguments.isEmpty {
            arguments = [key] + (environment["ETCDCTL_WATCH_RANGE_END"].map { [$0] } ?? [])
        } else if environment["ETCDCTL_WATCH_KEY"] == nil, let end = environment["ETCDCTL_WATCH_RANGE_END"], !end.isEmpty {
            throw CommandError.badArguments("ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\(goQuote(end))")
        }
        let request = try createRequest(arguments, flags: invocation.flags)
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

    /// As etcdctl's getWatchChan: the first argument is the key, a second one (only when there
    /// are exactly two) the range end; further words are ignored.
    private static func createRequest(_ arguments: [String], flags: ParsedFlags) throws(CommandError)
        -> Etcdserverpb_WatchCreateRequest {
        guard !arguments.isEmpty else { throw CommandError.badArguments("bad number of arguments") }
        var request = Etcdserverpb_WatchCreateRequest()
        request.key = Data(arguments[0].utf8)
        if arguments.count == 2 {
            if flags.bool("prefix") {
                throw CommandError.badArguments("`range_end` and `--prefix` are mutually exclusive")
            }
            request.rangeEnd = Data(arguments[1].utf8)
        } else if flags.bool("prefix") {
            if request.key.isEmpty { request.key = Data([0]); request.rangeEnd = Data([0]) }
            else { request.rangeEnd = prefixRangeEnd(request.key) }
        }
        request.startRevision = Int64(flags["rev"]) ?? 0
        request.prevKv = flags.bool("prev-kv")
        return request
    }

    // MARK: Interactive

    /// `etcdctl watch -i`: reads `watch [options] <key> [range_end] [-- command…]` and `progress`
    /// lines from stdin; all watches share one stream, so `progress` reaches each of them (each
    /// prints `progress notify: <revision>`). End of input ends etcdctl with exit code 3.
    private static func runInteractive(_ invocation: Invocation) async throws {
        let environment = ProcessInfo.processInfo.environment
        let environmentKey = environment["ETCDCTL_WATCH_KEY"] ?? ""
        let environmentRange = environment["ETCDCTL_WATCH_RANGE_END"] ?? ""
        let stream = try invocation.client().makeWatchStream()
        defer { stream.close() }
        let display = invocation.display
        for await line in standardInputLines() {
            guard let line else { break }
            let words = argify(line)
            guard let first = words.first else {
                writeStandardError("Invalid command: \(line) (watch and progress supported)\n")
                continue
            }
            switch first {
            case "watch":
                if words.count < 2 && environmentKey.isEmpty {
                    writeStandardError("Invalid command \(line) (command type or key is not provided)\n")
                    continue
                }
                let (arguments, command, flags) = try interactiveArguments(Array(words.dropFirst()),
                                                                            key: environmentKey, rangeEnd: environmentRange)
                let request: Etcdserverpb_WatchCreateRequest
                do {
                    request = try createRequest(arguments, flags: flags)
                } catch {
                    writeStandardError("Invalid command \(line) (\(error.message))\n")
                    continue
                }
                let responses = stream.watch(request)
                Task { await printInteractive(responses, display: display, command: command) }
            case "progress":
                try stream.requestProgress()
            default:
                writeStandardError("Invalid command \(line) (only support watch)\n")
            }
        }
        throw CommandError.invalidInput("Error reading watch request line: EOF")
    }

    /// etcdctl's parseWatchArgs for an interactive line (the words after `watch`): the positional
    /// arguments (with ETCDCTL_WATCH_KEY/RANGE_END in front), the exec command, the line's flags.
    private static func interactiveArguments(_ words: [String], key: String, rangeEnd: String) throws(CommandError)
        -> (arguments: [String], command: [String], flags: ParsedFlags) {
        if words.last == "--" {
            throw .badArguments("bad number of arguments (found separator --, but no commands)")
        }
        let flags: ParsedFlags
        do {
            flags = try FlagParser.parse(words, specs: Self.flags, environment: [:], environmentFlags: [])
        } catch {
            throw .badArguments(error.message)
        }
        let command = flags.afterDashes ?? []
        if command.isEmpty && key.isEmpty && flags.arguments.isEmpty {
            throw .badArguments("bad number of arguments")
        }
        if command.isEmpty && !key.isEmpty && !flags.arguments.isEmpty {
            throw .badArguments("bad number of arguments (found conflicting environment key)")
        }
        let fromEnvironment = key.isEmpty ? [] : [key] + (rangeEnd.isEmpty ? [] : [rangeEnd])
        return (fromEnvironment + flags.arguments, command, flags)
    }

    private static func printInteractive(_ responses: AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>,
                                         display: Display, command: [String]) async {
        do {
            for try await response in responses {
                if response.events.isEmpty && response.header.revision != 0 && response.compactRevision == 0 {
                    print("progress notify: \(response.header.revision)")
                }
                try display.watch(response)
                flushStandardOutput()
                if !command.isEmpty { try runCommand(command, for: response) }
            }
        } catch let error as EtcdError {
            writeStandardError("watch was canceled (\(error.message))\n")
        } catch let error as CommandError {
            EtcdCtl.printError(error.message)
            flushStandardOutput()
            exit(error.exitCode)
        } catch {
            writeStandardError("watch was canceled (\(error))\n")
        }
    }

    /// Lines of stdin, each with its newline removed; nil once input ends. A last line without a
    /// newline is dropped, as Go's `ReadString('\n')` reports it with the error. Read from the file
    /// descriptor, not through stdio: a thread blocked in `getline` holds stdin's lock, and the
    /// printers' `fflush(nil)` would wait for it.
    private static func standardInputLines() -> AsyncStream<String?> {
        let (lines, continuation) = AsyncStream.makeStream(of: String?.self)
        Thread.detachNewThread {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                pending += chunk[..<count]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            continuation.yield(nil)
            continuation.finish()
        }
        return lines
    }

    private static func writeStandardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Runs the exec command once per event with ETCD_WATCH_* describing it (Go-quoted), as etcdctl
    /// does; a command that fails ends etcdctl with exit code 1.
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
            if process.terminationStatus != 0 {
                let shown = "[" + command.map { goQuote($0) }.joined(separator: " ") + "]"
                writeStandardError("command \(shown) error (exit status \(process.terminationStatus))\n")
                exit(1)
            }
        }
    }
}
