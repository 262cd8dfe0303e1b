import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process started by a test, with its stdout and stderr going to a log file.
///
/// Only the pid this object started is ever signalled. `stop()` sends SIGTERM, then SIGKILL after a
/// grace period, and reaps the child so no zombie or orphan outlives the test.
public final class ChildProcess: Sendable {
    /// A short name for messages ("etcd", "n1").
    public let name: String
    /// The process id.
    public let pid: pid_t
    /// Where stdout and stderr are written.
    public let logPath: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; the environment is the test's own plus `environment`.
    public init(
        name: String,
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        logPath: String
    ) throws {
        guard access(executable, X_OK) == 0 else { throw TestSupportError.missingExecutable(executable) }
        self.name = name
        self.logPath = logPath

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // The test runner's threads may block or ignore signals; posix_spawn would pass that on, and
        // a child that cannot see SIGTERM cannot be stopped gracefully. Start it with a clean slate.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let argv = [executable] + arguments
        let envp = merged.map { "\($0.key)=\($0.value)" }

        var child: pid_t = 0
        let result = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                posix_spawn(&child, executable, &actions, &attributes, argvPointers, envPointers)
            }
        }
        guard result == 0 else { throw TestSupportError.system("posix_spawn \(executable)", result) }
        pid = child
        LiveChildren.shared.add(child)
    }

    /// Whether the process is still running (reaps it if it has exited).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// The exit status if the process has exited (as `waitpid` reports it), else nil.
    public var status: Int32? { reap(blocking: false) }

    /// The last `lines` lines of the log.
    public func logTail(lines: Int = 30) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Sends `signal` to the process if it is still running.
    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL if the process has not exited within `grace`; waits until it is reaped.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Int32 {
        if let status = reap(blocking: false) { return status }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let status = reap(blocking: false) { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        return reap(blocking: true) ?? -1
    }

    /// Throws `processExited` with the log tail if the process is no longer running.
    public func checkRunning() throws {
        if let status = reap(blocking: false) {
            throw TestSupportError.processExited(name: name, status: status, logTail: logTail())
        }
    }

    private func reap(blocking: Bool) -> Int32? {
        exitStatus.withLock { known in
            if let known { return known }
            var status: Int32 = 0
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) {
                known = status
                LiveChildren.shared.remove(pid)
            }
            return known
        }
    }

    deinit {
        if reap(blocking: false) == nil {
            kill(pid, SIGKILL)
            _ = reap(blocking: true)
        }
    }
}

/// Children not yet reaped. A test that throws before stopping its servers, or a test run that
/// ends while a detached clean-up is still pending, would otherwise leave them running after the
/// test process exits; they are killed at exit instead.
private final class LiveChildren: Sendable {
    static let shared = LiveChildren()
    private let pids = Mutex<Set<pid_t>>([])

    private init() {
        atexit { LiveChildren.shared.killAll() }
    }

    func add(_ pid: pid_t) { _ = pids.withLock { $0.insert(pid) } }

    func remove(_ pid: pid_t) { _ = pids.withLock { $0.remove(pid) } }

    private func killAll() {
        for pid in pids.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}

private func withCStrings<Result>(
    _ strings: [String],
    _ body: ([UnsafeMutablePointer<CChar>?]) -> Result
) -> Result {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
