#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A child process in a process group of its own, its output appended to a file: a container's
/// command or a probe's. The group is what is signalled, so that a shell's children go with it.
final class SpawnedProcess: Sendable {
    let pid: pid_t

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `command` (looked up in PATH) with exactly `environment`, in `directory`, its
    /// standard output and error appended to `output`, standard input empty.
    init(command: [String], environment: [String: String], directory: String?, output: String) throws {
        guard let first = command.first, !first.isEmpty else { throw SpawnError(description: "no command given") }
        // A working directory is entered by a shell that then becomes the command (glibc's
        // posix_spawn_file_actions_addchdir_np is not visible to Swift).
        var command = command
        if let directory {
            command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + command
        }
        let path = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        guard let program = Self.resolve(command[0], path: path) else {
            throw SpawnError(description: "exec: \"\(first)\": executable file not found in $PATH")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &defaults)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, program, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw SpawnError(description: "exec: \"\(first)\": \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// The program's path: as given when it has a slash, else the first executable of that name
    /// in `path` (the container's PATH, not the agent's).
    static func resolve(_ program: String, path: String) -> String? {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The exit status once the process has ended (128 + signal for a killed one), without waiting.
    func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return result < 0 ? 255 : nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Waits for the exit, polling; nil if `deadline` passes first.
    func wait(until deadline: ContinuousClock.Instant? = nil) async -> Int32? {
        while true {
            if let status = exitStatus() { return status }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                // Cancelled: the process still has to be waited for, without spinning.
                await Task.detached { try? await Task.sleep(for: .milliseconds(50)) }.value
            }
        }
    }

    /// The CPU time (user and system, seconds) the live processes of these process groups have
    /// used, from /proc: what the node agent reports as a pod's CPU use.
    static func cpuSeconds(ofGroups groups: Set<pid_t>) -> Double {
        guard !groups.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state, ppid, pgrp, ..., utime (12th), stime (13th).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let group = pid_t(fields[2]), groups.contains(group),
                  let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            total += (user + system) / ticks
        }
        return total
    }

    func signalGroup(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// SIGTERM to the group, SIGKILL after `grace`; returns the exit status.
    func stop(grace: Duration) async -> Int32 {
        signalGroup(SIGTERM)
        if let status = await wait(until: .now + grace) { return status }
        signalGroup(SIGKILL)
        return await wait() ?? 137
    }
}
