import EtcdClient
import Foundation

/// `etcdctl`: etcdctl 3.4's v3 commands, flags, `ETCDCTL_*` variables, output formats and exit codes.
@main
struct EtcdCtl {
    /// The version of etcdctl whose behaviour this one reproduces.
    static let compatibleVersion = "3.4.23"
    static let apiVersion = "3.4"

    static let globalFlags: [FlagSpec] = [
        .init(name: "endpoints", kind: .list, defaultValue: "127.0.0.1:2379"),
        .init(name: "debug", kind: .bool, defaultValue: "false"),
        .init(name: "write-out", shorthand: "w", kind: .value, defaultValue: "simple"),
        .init(name: "hex", kind: .bool, defaultValue: "false"),
        .init(name: "dial-timeout", kind: .value, defaultValue: "2s"),
        .init(name: "command-timeout", kind: .value, defaultValue: "5s"),
        .init(name: "keepalive-time", kind: .value, defaultValue: "2s"),
        .init(name: "keepalive-timeout", kind: .value, defaultValue: "6s"),
        .init(name: "insecure-transport", kind: .bool, defaultValue: "true"),
        .init(name: "insecure-discovery", kind: .bool, defaultValue: "true"),
        .init(name: "insecure-skip-tls-verify", kind: .bool, defaultValue: "false"),
        .init(name: "cert", kind: .value, defaultValue: ""),
        .init(name: "key", kind: .value, defaultValue: ""),
        .init(name: "cacert", kind: .value, defaultValue: ""),
        .init(name: "user", kind: .value, defaultValue: ""),
        .init(name: "password", kind: .value, defaultValue: ""),
        .init(name: "discovery-srv", shorthand: "d", kind: .value, defaultValue: ""),
        .init(name: "discovery-srv-name", kind: .value, defaultValue: ""),
        .init(name: "help", shorthand: "h", kind: .bool, defaultValue: "false"),
    ]

    struct Command: Sendable {
        var path: [String]
        var flags: [FlagSpec] = []
        var run: @Sendable (Invocation) async throws -> Void
    }

    static let commands: [Command] = [
        Command(path: ["get"], flags: KVCommands.getFlags, run: KVCommands.get),
        Command(path: ["put"], flags: KVCommands.putFlags, run: KVCommands.put),
        Command(path: ["del"], flags: KVCommands.delFlags, run: KVCommands.del),
        Command(path: ["txn"], flags: [.init(name: "interactive", shorthand: "i", kind: .bool, defaultValue: "false")],
                run: TxnCommand.run),
        Command(path: ["compaction"], flags: [.init(name: "physical", kind: .bool, defaultValue: "false")],
                run: KVCommands.compaction),
        Command(path: ["watch"], flags: WatchCommand.flags, run: WatchCommand.run),
        Command(path: ["lease", "grant"], run: LeaseCommands.grant),
        Command(path: ["lease", "revoke"], run: LeaseCommands.revoke),
        Command(path: ["lease", "timetolive"], flags: [.init(name: "keys", kind: .bool, defaultValue: "false")],
                run: LeaseCommands.timeToLive),
        Command(path: ["lease", "list"], run: LeaseCommands.list),
        Command(path: ["lease", "keep-alive"], flags: [.init(name: "once", kind: .bool, defaultValue: "false")],
                run: LeaseCommands.keepAlive),
        Command(path: ["member", "list"], run: ClusterCommands.memberList),
        Command(path: ["member", "add"], flags: [
            .init(name: "peer-urls", kind: .value, defaultValue: ""),
            .init(name: "learner", kind: .bool, defaultValue: "false"),
        ], run: ClusterCommands.memberAdd),
        Command(path: ["member", "remove"], run: ClusterCommands.memberRemove),
        Command(path: ["member", "update"], flags: [.init(name: "peer-urls", kind: .value, defaultValue: "")],
                run: ClusterCommands.memberUpdate),
        Command(path: ["member", "promote"], run: ClusterCommands.memberPromote),
        Command(path: ["endpoint", "health"], flags: [.init(name: "cluster", kind: .bool, defaultValue: "false")],
                run: ClusterCommands.health),
        Command(path: ["endpoint", "status"], flags: [.init(name: "cluster", kind: .bool, defaultValue: "false")],
                run: ClusterCommands.status),
        Command(path: ["endpoint", "hashkv"], flags: [
            .init(name: "cluster", kind: .bool, defaultValue: "false"),
            .init(name: "rev", kind: .value, defaultValue: "0"),
        ], run: ClusterCommands.hashKV),
        Command(path: ["alarm", "list"], run: ClusterCommands.alarmList),
        Command(path: ["alarm", "disarm"], run: ClusterCommands.alarmDisarm),
        Command(path: ["defrag"], flags: [
            .init(name: "cluster", kind: .bool, defaultValue: "false"),
            .init(name: "data-dir", kind: .value, defaultValue: ""),
        ], run: ClusterCommands.defrag),
        Command(path: ["move-leader"], run: ClusterCommands.moveLeader),
        Command(path: ["make-mirror"], flags: MirrorCommand.flags, run: MirrorCommand.run),
        Command(path: ["snapshot", "save"], run: SnapshotCommands.save),
        Command(path: ["snapshot", "status"], run: SnapshotCommands.status),
        Command(path: ["snapshot", "restore"], flags: SnapshotCommands.restoreFlags, run: SnapshotCommands.restore),
        Command(path: ["auth", "enable"], run: AuthCommands.enable),
        Command(path: ["auth", "disable"], run: AuthCommands.disable),
        Command(path: ["user", "add"], flags: AuthCommands.userAddFlags, run: AuthCommands.userAdd),
        Command(path: ["user", "delete"], run: AuthCommands.userDelete),
        Command(path: ["user", "get"], flags: [.init(name: "detail", kind: .bool, defaultValue: "false")],
                run: AuthCommands.userGet),
        Command(path: ["user", "list"], run: AuthCommands.userList),
        Command(path: ["user", "passwd"], flags: [.init(name: "interactive", kind: .bool, defaultValue: "true")],
                run: AuthCommands.userPasswd),
        Command(path: ["user", "grant-role"], run: AuthCommands.userGrantRole),
        Command(path: ["user", "revoke-role"], run: AuthCommands.userRevokeRole),
        Command(path: ["role", "add"], run: AuthCommands.roleAdd),
        Command(path: ["role", "delete"], run: AuthCommands.roleDelete),
        Command(path: ["role", "get"], run: AuthCommands.roleGet),
        Command(path: ["role", "list"], run: AuthCommands.roleList),
        Command(path: ["role", "grant-permission"], flags: AuthCommands.permissionFlags, run: AuthCommands.roleGrantPermission),
        Command(path: ["role", "revoke-permission"], flags: AuthCommands.permissionFlags, run: AuthCommands.roleRevokePermission),
        Command(path: ["check", "perf"], flags: CheckCommand.perfFlags, run: CheckCommand.perf),
        Command(path: ["lock"], flags: [.init(name: "ttl", kind: .value, defaultValue: "10")], run: RecipeCommands.lock),
        Command(path: ["elect"], flags: [.init(name: "listen", shorthand: "l", kind: .bool, defaultValue: "false")],
                run: RecipeCommands.elect),
        Command(path: ["version"]) { _ in
            print("etcdctl version: \(compatibleVersion)")
            print("API version: \(apiVersion)")
        },
    ]

    static func main() async {
        // watch, lock and keep-alive run until a signal ends them. A parent (a test runner) may have
        // blocked signals; unblock them as Go's runtime does. Like Go, keep SIGINT and SIGHUP ignored
        // when they were ignored at start (nohup, background jobs), but let SIGTERM always end us.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        Glibc.signal(SIGTERM, SIG_DFL)
        let arguments = Array(CommandLine.arguments.dropFirst())
        let code = await run(arguments)
        flushStandardOutput()
        exit(code)
    }

    static func run(_ arguments: [String]) async -> Int32 {
        let (path, rest) = commandPath(arguments)
        guard let command = commands.first(where: { $0.path == path }) else {
            let shown = path.isEmpty ? "" : path.joined(separator: " ")
            if shown.isEmpty {
                print("etcdctl - A simple command line client for etcd3 (commands: " +
                      Set(commands.map { $0.path[0] }).sorted().joined(separator: ", ") + ")")
                return 0
            }
            // cobra reports it, then etcdctl's main reports it again.
            let message = "unknown command \"\(shown)\" for \"etcdctl\""
            printError(message)
            FileHandle.standardError.write(Data("Run 'etcdctl --help' for usage.\n".utf8))
            printError(message)
            return 1
        }
        do {
            let flags = try FlagParser.parse(
                rest, specs: globalFlags + command.flags, environment: ProcessInfo.processInfo.environment,
                environmentFlags: Set(globalFlags.map(\.name)))
            let invocation = try Invocation(flags: flags)
            do {
                try await command.run(invocation)
            } catch {
                await invocation.close()
                throw error
            }
            await invocation.close()
            return 0
        } catch {
            let commandError = failure(error)
            if case .usage = commandError {
                // cobra prints the error (and the usage on stdout), then etcdctl's main prints it again.
                printError(commandError.message)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            printError(commandError.message)
            return commandError.exitCode
        }
    }

    /// The command words (`lease grant`) among the arguments, and the arguments without them.
    /// Flags may come before the command, so values of global flags are skipped when looking.
    static func commandPath(_ arguments: [String]) -> (path: [String], rest: [String]) {
        let groups: Set<String> = Set(commands.filter { $0.path.count > 1 }.map { $0.path[0] })
        let valueFlags = Set(globalFlags.filter { $0.kind != .bool }.flatMap { spec in
            ["--\(spec.name)"] + (spec.shorthand.map { ["-\($0)"] } ?? [])
        })
        var path: [String] = []
        var rest: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                rest += arguments[(index - 1)...]
                break
            }
            if argument.hasPrefix("-") {
                rest.append(argument)
                if valueFlags.contains(argument) && index < arguments.count {
                    rest.append(arguments[index])
                    index += 1
                }
                continue
            }
            if path.isEmpty || (path.count == 1 && groups.contains(path[0])) {
                path.append(argument)
            } else {
                rest.append(argument)
            }
        }
        return (path, rest)
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    }
}
