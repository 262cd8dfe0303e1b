import Foundation

/// What a finished command printed, and how it exited.
public struct ProcessResult: Equatable, Sendable {
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String

    public init(exitCode: Int32, stdout: String, stderr: String) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a command to completion and collects its output (both pipes drained at once, so a
/// chatty command cannot block on a full pipe).
/// - Parameters:
///   - environment: the child's whole environment; nil inherits the test runner's.
///   - interruptAfter: for commands that run until stopped (watch): SIGTERM after this long.
///     SIGTERM, not SIGINT: a runner started in the background ignores SIGINT, and children
///     inherit that.
public func runProcess(
    _ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil,
    directory: String? = nil, interruptAfter: Duration? = nil
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = Pipe()
    let errors = Pipe()
    let input = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let stderrBox = DataBox()
    let reader = Thread { stderrBox.data = errors.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    if let interruptAfter {
        Thread.sleep(forTimeInterval: Double(interruptAfter.components.seconds)
                     + Double(interruptAfter.components.attoseconds) / 1e18)
        process.terminate()
    }
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !stderrBox.isSet { Thread.sleep(forTimeInterval: 0.001) }
    return ProcessResult(exitCode: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderrBox.data, as: UTF8.self))
}

private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Data?
    var data: Data {
        get { lock.withLock { stored ?? Data() } }
        set { lock.withLock { stored = newValue } }
    }
    var isSet: Bool { lock.withLock { stored != nil } }
}
