#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a test harness step failed; the description is what a test failure should print.
public enum TestSupportError: Error, CustomStringConvertible {
    /// A system call failed with `errno`.
    case system(String, Int32)
    /// A condition did not become true before its deadline.
    case timedOut(String)
    /// A child process exited while the test still needed it.
    case processExited(name: String, status: Int32, logTail: String)
    /// An executable the test needs is not installed.
    case missingExecutable(String)
    /// A helper command failed; the text says which and why.
    case commandFailed(String)

    public var description: String {
        switch self {
        case .system(let call, let code):
            return "\(call) failed: \(String(cString: strerror(code)))"
        case .timedOut(let what):
            return "timed out waiting for \(what)"
        case .processExited(let name, let status, let logTail):
            return "\(name) exited with status \(status); last lines of its log:\n\(logTail)"
        case .missingExecutable(let path):
            return "\(path) is not installed (the README's test command installs it with apt-get)"
        case .commandFailed(let what):
            return what
        }
    }
}
