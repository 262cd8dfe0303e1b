import Foundation

/// The path of one of this package's executables (`etcd`, `etcdctl`), built next to the test
/// bundle because the test target depends on it.
public func builtExecutable(_ name: String) throws -> String {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    let fromExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent(name).path }
    if let fromExe, FileManager.default.isExecutableFile(atPath: fromExe) { return fromExe }
    throw TestSupportError.missingExecutable("\(name) next to \(bundleDirectory.path)")
}
