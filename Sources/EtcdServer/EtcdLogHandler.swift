import Foundation
import Logging
import Synchronization

/// Writes log lines as etcd 3.4 does: capnslog's text lines by default
/// (`2026-11-26 05:50:00.123456 I | etcdserver: ...`), or zap's JSON objects with `--logger=zap`.
/// Each line is flushed as it is written, so tools that follow the log see milestones at once.
package struct EtcdLogHandler: LogHandler {
    package enum Format: Sendable { case capnslog, zap }

    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]
    private let format: Format
    private let output: Output

    /// Where lines go: stderr, stdout or a file (etcd's `--log-outputs`).
    package final class Output: Sendable {
        private let handles: Mutex<[FileHandle]>

        package init(paths: [String]) {
            var handles: [FileHandle] = []
            for path in paths.isEmpty ? ["default"] : paths {
                switch path {
                case "default", "stderr": handles.append(.standardError)
                case "stdout": handles.append(.standardOutput)
                default:
                    if !FileManager.default.fileExists(atPath: path) {
                        _ = FileManager.default.createFile(atPath: path, contents: nil)
                    }
                    if let handle = FileHandle(forWritingAtPath: path) {
                        handle.seekToEndOfFile()
                        handles.append(handle)
                    } else {
                        handles.append(.standardError)
                    }
                }
            }
            self.handles = Mutex(handles)
        }

        func write(_ line: String) {
            let data = Data((line + "\n").utf8)
            handles.withLock { handles in
                for handle in handles { handle.write(data) }
            }
        }
    }

    package init(format: Format, level: Logger.Level, output: Output) {
        self.format = format
        logLevel = level
        self.output = output
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        let now = Date()
        switch format {
        case .capnslog:
            let letter = switch event.level {
            case .trace, .debug: "D"
            case .info, .notice: "I"
            case .warning: "W"
            case .error: "E"
            case .critical: "C"
            }
            output.write("\(Self.capnslogTime(now)) \(letter) | \(event.message)")
        case .zap:
            let level = switch event.level {
            case .trace, .debug: "debug"
            case .info, .notice: "info"
            case .warning: "warn"
            case .error: "error"
            case .critical: "fatal"
            }
            var fields: [(String, String)] = [("level", Self.json(level)), ("ts", Self.json(Self.zapTime(now))),
                                              ("caller", Self.json("\(event.source)/\(Self.fileName(event.file)):\(event.line)")),
                                              ("msg", Self.json("\(event.message)"))]
            for (key, value) in (metadata.merging(event.metadata ?? [:]) { $1 }).sorted(by: { $0.key < $1.key }) {
                fields.append((key, Self.json("\(value)")))
            }
            output.write("{" + fields.map { "\(Self.json($0.0)):\($0.1)" }.joined(separator: ",") + "}")
        }
    }

    private static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    private static func capnslogTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let micros = Int((date.timeIntervalSince1970 - Double(seconds)) * 1_000_000)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, micros)
    }

    private static func zapTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let micros = Int((date.timeIntervalSince1970 - Double(seconds)) * 1_000_000)
        let offset = parts.tm_gmtoff / 60
        let sign = offset < 0 ? "-" : "+"
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06d", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, micros)
            + sign + String(format: "%02d:%02d", abs(offset) / 60, abs(offset) % 60)
    }

    private static func json(_ string: String) -> String {
        var escaped = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default:
                if scalar.value < 0x20 {
                    escaped += String(format: "\\u%04x", scalar.value)
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }
}
