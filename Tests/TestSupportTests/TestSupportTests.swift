import Foundation
import Testing
import TestSupport

@Suite struct TestSupportTests {
    @Test func freePortsAreDistinctAndBindable() throws {
        let ports = try FreePorts.allocate(16)
        #expect(Set(ports).count == 16)
        #expect(ports.allSatisfy { $0 > 0 && $0 < 65536 })
    }

    @Test func childProcessLogsOutputAndReportsItsExit() async throws {
        let directory = try TemporaryDirectory(prefix: "child")
        defer { directory.remove() }
        let child = try ChildProcess(
            name: "sh", executable: "/bin/sh", arguments: ["-c", "echo hello $GREETING_TARGET; exit 3"],
            environment: ["GREETING_TARGET": "world"], logPath: directory.appending("sh.log"))
        try await waitUntil("sh to exit", timeout: .seconds(10)) { !child.isRunning }
        #expect(child.status.map { ($0 >> 8) & 0xff } == 3)
        #expect(child.logTail() .contains("hello world"))
        #expect(throws: TestSupportError.self) { try child.checkRunning() }
    }

    @Test func stopEndsALongRunningProcess() async throws {
        let directory = try TemporaryDirectory(prefix: "child")
        defer { directory.remove() }
        let child = try ChildProcess(
            name: "sleep", executable: "/bin/sleep", arguments: ["600"], logPath: directory.appending("sleep.log"))
        #expect(child.isRunning)
        let status = await child.stop(grace: .seconds(5))
        #expect(status & 0x7f == SIGTERM)
        #expect(!child.isRunning)
    }

    @Test func waitUntilTimesOutWithTheLastError() async throws {
        await #expect(throws: TestSupportError.self) {
            try await waitUntil("never", timeout: .milliseconds(200), interval: .milliseconds(20)) {
                throw TestSupportError.system("probe", ECONNREFUSED)
            }
        }
    }

    @Test func missingExecutableIsReportedClearly() throws {
        #expect(throws: TestSupportError.self) {
            try ChildProcess(name: "x", executable: "/nonexistent/etcd", arguments: [], logPath: "/dev/null")
        }
    }
}
