import Foundation
import KubeAPI
import KubeHTTP
import NIOCore
import NIOPosix

/// A container's liveness or readiness probe, as the kubelet runs it: a command (exit 0), an HTTP
/// GET (status 200-399) or a TCP connection, every `period` after `initialDelay`, each attempt
/// given `timeout`; `failureThreshold` failures in a row make it fail, `successThreshold`
/// successes make it pass again.
struct Probe: Sendable {
    enum Action: Sendable {
        case exec([String])
        case http(port: Int, path: String)
        case tcp(port: Int)
    }

    var action: Action
    var initialDelay: Duration
    var period: Duration
    var timeout: Duration
    var successThreshold: Int
    var failureThreshold: Int

    /// The probe of a container's spec (`livenessProbe`, `readinessProbe`), nil when it has none
    /// or names a port the container does not declare.
    init?(_ spec: JSONValue?, container: JSONValue) {
        guard let spec, spec != .null else { return nil }
        func port(_ value: JSONValue?) -> Int? {
            if let number = value?.intValue { return Int(number) }
            guard let name = value?.stringValue else { return nil }
            if let number = Int(name) { return number }
            return (container["ports"]?.arrayValue ?? []).first { $0["name"]?.stringValue == name }?["containerPort"]?.intValue.map(Int.init)
        }
        if let command = spec[path: ["exec", "command"]]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty {
            action = .exec(command)
        } else if let http = spec["httpGet"], let number = port(http["port"]) {
            action = .http(port: number, path: http["path"]?.stringValue ?? "/")
        } else if let tcp = spec["tcpSocket"], let number = port(tcp["port"]) {
            action = .tcp(port: number)
        } else {
            return nil
        }
        func seconds(_ field: String, _ fallback: Int64) -> Int64 { spec[field]?.intValue ?? fallback }
        initialDelay = .seconds(seconds("initialDelaySeconds", 0))
        period = .seconds(max(1, seconds("periodSeconds", 10)))
        timeout = .seconds(max(1, seconds("timeoutSeconds", 1)))
        successThreshold = Int(max(1, seconds("successThreshold", 1)))
        failureThreshold = Int(max(1, seconds("failureThreshold", 3)))
    }

    /// One attempt: nil when it succeeds, else why it failed (in the kubelet's words).
    func attempt(environment: [String: String], directory: String?, scratch: String) async -> String? {
        switch action {
        case .exec(let command):
            try? FileManager.default.removeItem(atPath: scratch)
            let process: SpawnedProcess
            do {
                process = try SpawnedProcess(command: command, environment: environment, directory: directory, output: scratch)
            } catch {
                return "\(error)"
            }
            guard let status = await process.wait(until: .now + timeout) else {
                _ = await process.stop(grace: .zero)
                return "command \(command) timed out"
            }
            if status == 0 { return nil }
            let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
            return output.isEmpty ? "command \(command) exited with \(status)" : output
        case .http(let port, let path):
            let url = "http://127.0.0.1:\(port)\(path)"
            do {
                let answer = try await withDeadline(timeout) { try await HTTPClient.get(host: "127.0.0.1", port: port, uri: path) }
                guard let answer else { return "Get \"\(url)\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)" }
                let code = Int(answer.status.code)
                return (200..<400).contains(code) ? nil : "HTTP probe failed with statuscode: \(code)"
            } catch {
                return "Get \"\(url)\": dial tcp 127.0.0.1:\(port): connect: connection refused"
            }
        case .tcp(let port):
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(timeout.components.seconds))
                    .connect(host: "127.0.0.1", port: port).get()
                try? await channel.close()
                return nil
            } catch {
                return "dial tcp 127.0.0.1:\(port): connect: connection refused"
            }
        }
    }
}

/// `body`'s result, or nil when `limit` passes first (the body is then cancelled).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
