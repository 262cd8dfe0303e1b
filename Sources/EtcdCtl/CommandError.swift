/// Why etcdctl stops, with the exit code etcdctl uses for it (`ctlv3/command/error.go`).
enum CommandError: Error {
    /// A mistake on the command line found by the flag parser (cobra exits 1 for these).
    case usage(String)
    /// `ExitBadArgs` (128): wrong arguments to a command.
    case badArguments(String)
    /// `ExitError` (1): the request failed.
    case failed(String)
    /// `ExitBadConnection` (2).
    case badConnection(String)
    /// `ExitInvalidInput` (3): bad stdin input (txn, watch -i).
    case invalidInput(String)
    /// `ExitBadFeature` (4): a valid flag with an unsupported value.
    case badFeature(String)
    /// `ExitInterrupted` (5).
    case interrupted(String)

    var exitCode: Int32 {
        switch self {
        case .usage, .failed: return 1
        case .badConnection: return 2
        case .invalidInput: return 3
        case .badFeature: return 4
        case .interrupted: return 5
        case .badArguments: return 128
        }
    }

    var message: String {
        switch self {
        case .usage(let text), .badArguments(let text), .failed(let text), .badConnection(let text),
             .invalidInput(let text), .badFeature(let text), .interrupted(let text):
            return text
        }
    }
}
