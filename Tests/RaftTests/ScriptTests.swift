import Foundation
import Testing

/// Runs every script in `testdata/` (see ``ScriptTestRunner``) against a fresh
/// ``InteractionEnvironment``. The scripts are found next to this source file, so no resource
/// bundle is needed; the test target excludes the folder from compilation.
@Suite struct ScriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata").path

    static var scripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test(arguments: scripts)
    func script(_ name: String) throws {
        let environment = InteractionEnvironment()
        try ScriptTestRunner.run(path: Self.directory + "/" + name, handler: environment.handle)
    }

    @Test func scriptsExist() {
        #expect(Self.scripts.count >= 3)
    }
}
