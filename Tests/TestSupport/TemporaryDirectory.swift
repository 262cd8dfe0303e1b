import Foundation

/// A fresh directory under the system's temporary folder, for a test's data dirs and logs.
///
/// Tests remove it when they pass and keep it (printing its path) when they fail, so that the
/// logs of the processes they ran can be read afterwards. `KEEP_TEST_DIRS=1` keeps every one.
public struct TemporaryDirectory: Sendable {
    /// The absolute path of the directory.
    public let path: String

    /// Creates a new, empty, uniquely named directory whose name starts with `prefix`.
    public init(prefix: String) throws {
        var template = Array("\(NSTemporaryDirectory())/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else { throw TestSupportError.system("mkdtemp", errno) }
        path = String(cString: created)
    }

    /// A path inside the directory.
    public func appending(_ component: String) -> String { "\(path)/\(component)" }

    /// Deletes the directory and everything in it, unless `KEEP_TEST_DIRS` is set.
    public func remove() {
        guard ProcessInfo.processInfo.environment["KEEP_TEST_DIRS"] == nil else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `body` with a new directory; removes it if `body` returns, keeps it if `body` throws.
    public static func with<Result>(
        prefix: String,
        _ body: (TemporaryDirectory) async throws -> Result
    ) async throws -> Result {
        let directory = try TemporaryDirectory(prefix: prefix)
        do {
            let result = try await body(directory)
            directory.remove()
            return result
        } catch {
            print("test failed; its files are kept in \(directory.path)")
            throw error
        }
    }
}
