// The `etcd` executable: etcd 3.4's command line and environment, then one member of our store.
import Dispatch
import EtcdServer
import Foundation
import Logging
import Synchronization

// Swift's crash backtracer runs as a child process that inherits this one's sockets, listening
// ones included, and may live on for minutes after a crash: a supervisor restarting the member
// then finds its ports taken ("address in use") and its clients hang on connections nobody
// serves. Like etcd, which prints the panic and exits, the server runs without it, unless
// SWIFT_BACKTRACE says otherwise. The runtime reads the variable at start-up, hence the exec.
if ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil {
    setenv("SWIFT_BACKTRACE", "enable=no", 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    // No /proc (or no exec): run on with the backtracer.
}

let configuration: ServerConfiguration
var startupWarnings: [String] = []
switch EtcdCommandLine.parse(arguments: Array(CommandLine.arguments.dropFirst()),
                             environment: ProcessInfo.processInfo.environment) {
case .help(let text):
    print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    exit(0)
case .version(let text):
    print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    exit(0)
case .failure(let message, let code):
    FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
    exit(code)
case .run(var parsed, let warnings):
    do {
        parsed.failpoints = try Failpoint.parse(ProcessInfo.processInfo.environment[Failpoint.environmentVariable] ?? "")
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }
    configuration = parsed
    startupWarnings = warnings
}

let configuredLevel: Logger.Level = switch configuration.logLevel {
case "debug": .debug
case "warn": .warning
case "error": .error
case "panic", "fatal": .critical
default: .info
}
let level: Logger.Level = configuration.debug ? .debug : configuredLevel
let output = EtcdLogHandler.Output(paths: configuration.logOutputs)
let format: EtcdLogHandler.Format = configuration.logger == "zap" ? .zap : .capnslog
LoggingSystem.bootstrap { _ in EtcdLogHandler(format: format, level: level, output: output) }
let logger = Logger(label: "etcd")
for warning in startupWarnings { logger.warning("\(warning)") }
logger.info("etcdmain: etcd Version: 3.4.23 (swift-etcd)")
logger.info("etcdmain: setting maximum number of CPUs to \(ProcessInfo.processInfo.activeProcessorCount), total number of available CPUs is \(ProcessInfo.processInfo.activeProcessorCount)")
logger.info("embed: name = \(configuration.name)")
logger.info("embed: data dir = \(configuration.dataDir)")
logger.info("embed: heartbeat = \(configuration.heartbeatIntervalMilliseconds)ms, election = \(configuration.electionTimeoutMilliseconds)ms, snapshot count = \(configuration.snapshotCount)")
for (failpoint, count) in configuration.failpoints.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
    logger.warning("etcdmain: FAILPOINT \(failpoint.rawValue)=\(count) is on: this member has a deliberate bug or disk fault")
}
if configuration.unsafeNoFsync {
    logger.warning("etcdmain: --unsafe-no-fsync is set: the WAL is never synced, and a power failure loses acknowledged writes")
}
if configuration.enableV2 {
    logger.warning("etcdmain: --enable-v2 is set, but this server offers only the v3 API")
}

let server: EtcdServer
do {
    server = try await EtcdServer(configuration: configuration, logger: logger)
} catch {
    logger.critical("etcdmain: \(error)")
    exit(1)
}

// SIGTERM/SIGINT: stop serving, let in-flight requests finish, sync the WAL, then die of the same
// signal, as etcd does (so a supervisor sees the usual exit status).
let received = Atomic<Int32>(0)
var signalSources: [DispatchSourceSignal] = []
for signalNumber in [SIGTERM, SIGINT] {
    signal(signalNumber, SIG_IGN)
    // The main queue: the handler belongs to the main actor like the rest of this file.
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
    source.setEventHandler {
        if received.compareExchange(expected: 0, desired: signalNumber, ordering: .relaxed).exchanged {
            logger.notice("osutil: received \(signalNumber == SIGTERM ? "terminated" : "interrupt") signal, shutting down...")
            server.stop()
        }
    }
    source.resume()
    signalSources.append(source)
}

do {
    try await server.run()
} catch {
    logger.critical("etcdmain: \(error)")
    exit(1)
}
let signalNumber = received.load(ordering: .relaxed)
if signalNumber != 0 && getpid() != 1 {
    signal(signalNumber, SIG_DFL)
    kill(getpid(), signalNumber)
}
exit(0)
