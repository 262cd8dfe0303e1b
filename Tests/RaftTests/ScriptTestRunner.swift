import Foundation
import Testing

/// A small data-driven test runner in the style of cockroachdb/datadriven, which etcd's raft uses for
/// its interaction tests.
///
/// A script is a sequence of blocks:
///
/// ```
/// # comments and blank lines between blocks are kept as they are
/// command arg key=value
/// ----
/// expected output, one or more non-empty lines
/// ```
///
/// Each command runs through `handler`, and its output must equal the text under `----`. With
/// `RAFT_SCRIPT_REWRITE=1` in the environment the file is rewritten with the actual output instead, so
/// after an intended behavior change the goldens are regenerated and reviewed as a diff.
struct ScriptTestRunner {
    struct Command {
        var name: String
        var positional: [String]
        var keyed: [String: String]
        var line: Int

        func value(_ key: String) -> String? { keyed[key] }
    }

    static var rewriting: Bool { ProcessInfo.processInfo.environment["RAFT_SCRIPT_REWRITE"] != nil }

    /// Runs the script at `path`, recording an issue for every block whose output differs.
    static func run(path: String, handler: (Command) throws -> String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var rewritten: [String] = []
        var position = 0
        let fileName = URL(fileURLWithPath: path).lastPathComponent
        while position < lines.count {
            let line = lines[position]
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") {
                rewritten.append(line)
                position += 1
                continue
            }
            let commandLine = position + 1
            let command = parse(line, line: commandLine)
            position += 1
            guard position < lines.count, lines[position] == "----" else {
                Issue.record("\(fileName):\(commandLine): expected ---- after the command")
                return
            }
            position += 1
            var expected: [String] = []
            while position < lines.count, !lines[position].isEmpty {
                expected.append(lines[position])
                position += 1
            }
            var actual: String
            do {
                actual = try handler(command)
            } catch {
                actual = "error: \(error)"
            }
            if actual.isEmpty { actual = "ok" }
            if actual.hasSuffix("\n") { actual.removeLast() }
            rewritten.append(line)
            rewritten.append("----")
            rewritten.append(actual)
            if !rewriting && actual != expected.joined(separator: "\n") {
                Issue.record("""
                    \(fileName):\(commandLine): \(line)
                    expected:
                    \(expected.joined(separator: "\n"))
                    actual:
                    \(actual)
                    (RAFT_SCRIPT_REWRITE=1 regenerates the goldens)
                    """)
            }
        }
        if rewriting {
            try rewritten.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    static func parse(_ line: String, line number: Int) -> Command {
        let words = line.split(separator: " ").map(String.init)
        var positional: [String] = []
        var keyed: [String: String] = [:]
        for word in words.dropFirst() {
            if let equals = word.firstIndex(of: "=") {
                keyed[String(word[..<equals])] = String(word[word.index(after: equals)...])
            } else {
                positional.append(word)
            }
        }
        return Command(name: words.first ?? "", positional: positional, keyed: keyed, line: number)
    }
}
