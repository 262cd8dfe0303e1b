import Dispatch
import Foundation
import KubeAPI
import KubeHTTP
import NIOHTTP1
import Synchronization

/// A node whose pods run as local processes (`kubelet --runtime process`): each container's
/// command is a child process (see `PodWorker`), its output kept under the root directory and
/// served on the agent's port for `kubectl logs`, which the apiserver proxies here.
public final class ProcessNode: Sendable {
    public struct Configuration: Sendable {
        public var node: NodeRegistration.Configuration
        /// Where the pods' logs live (`--root-dir`).
        public var root: String
        /// The port the logs are served on (`--port`; 0 picks one).
        public var port: Int = 10250
        /// How often the pods' CPU use is reported (`--housekeeping-interval`).
        public var usagePeriod: Duration = .seconds(10)

        public init(name: String, root: String) {
            node = NodeRegistration.Configuration(names: [name])
            self.root = root
        }
    }

    let store: ObjectStore
    let configuration: Configuration
    let pods: Informer
    let queue = WorkQueue()
    let events: EventRecorder
    private let workers = Mutex<[String: (uid: String, worker: PodWorker)]>([:])
    /// Pods (by uid) whose processes are being stopped.
    private let stopping = Mutex<Set<String>>([])
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!

    public init(store: ObjectStore, configuration: Configuration) {
        self.store = store
        self.configuration = configuration
        pods = Informer(store: store, resource: Self.podResource)
        events = EventRecorder(store: store, component: "kubelet")
        let queue = queue
        let name = configuration.node.names[0]
        pods.observe { event in
            guard event.object[path: ["spec", "nodeName"]]?.stringValue == name else { return }
            queue.add(Informer.key(of: event.object))
        }
    }

    var name: String { configuration.node.names[0] }

    public func run() async throws {
        let server = try await HTTPServer.bind(host: "127.0.0.1", port: configuration.port)
        let registration = NodeRegistration(store: store, configuration: configuration.node, runtime: "process://1.0", port: server.port)
        try await registration.registerAll()
        FileHandle.standardOutput.write(Data("kubelet: node \(name) runs pods as processes; logs on 127.0.0.1:\(server.port)\n".utf8))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.run { request in await self.serve(request) } }
            group.addTask { await self.pods.run() }
            group.addTask { await registration.heartbeats() }
            group.addTask { await self.reportUsage() }
            group.addTask {
                await self.queue.process { key in try await self.sync(key) }
            }
        }
    }

    /// Stops every pod's processes (the agent is going away).
    public func stopAll() async {
        for (_, entry) in workers.withLock({ $0 }) { await entry.worker.stop(grace: .seconds(2)) }
    }

    /// On SIGTERM or SIGINT, stops every pod's processes and exits: they run in process groups
    /// of their own and would otherwise outlive the agent. Keep the sources returned.
    public func stopOnTermination() -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler {
                Task {
                    await self.stopAll()
                    exit(0)
                }
            }
            source.resume()
            return source
        }
    }

    private func sync(_ key: String) async throws {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        let pod = pods.get(namespace: parts[0], name: parts[1])
        if let existing = workers.withLock({ $0[key] }), pod == nil || PodFacts.uid(pod!) != existing.uid {
            // Deleted outright (or replaced by a pod of the same name): stop what ran.
            workers.withLock { _ = $0.removeValue(forKey: key) }
            stop(existing.worker, uid: existing.uid, grace: .seconds(30), pod: nil, key: key)
        }
        guard let pod else { return }
        if PodFacts.isTerminating(pod) {
            let worker = workers.withLock { $0.removeValue(forKey: key)?.worker }
            let grace = pod[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue ?? 30
            stop(worker, uid: PodFacts.uid(pod), grace: .seconds(grace), pod: pod, key: key)
            return
        }
        let phase = pod[path: ["status", "phase"]]?.stringValue
        guard workers.withLock({ $0[key] }) == nil, phase != "Succeeded", phase != "Failed",
              !stopping.withLock({ $0.contains(PodFacts.uid(pod)) }) else { return }
        let worker = PodWorker(pod: pod, root: configuration.root, store: store, events: events, node: name)
        workers.withLock { $0[key] = (PodFacts.uid(pod), worker) }
        await worker.start()
    }

    /// Stops a pod's processes beside the other pods' work (a grace period may be long), then,
    /// for a pod being deleted, deletes it for good.
    private func stop(_ worker: PodWorker?, uid: String, grace: Duration, pod: JSONValue?, key: String) {
        guard stopping.withLock({ $0.insert(uid).inserted }) else { return }
        Task {
            defer { _ = self.stopping.withLock { $0.remove(uid) } }
            if let worker {
                await worker.stop(grace: grace)
                if let pod { await self.events.record(pod, reason: "Killing", message: "Stopped the pod's containers", host: self.name) }
            }
            guard let pod else { return }
            if (try? await self.store.deletePod(pod, gracePeriod: 0)) == nil { self.queue.add(key, after: .seconds(1)) }
        }
    }

    // MARK: Metrics

    /// Every `usagePeriod`, each pod's CPU use over the period (millicores) written to its
    /// `metrics.kube-swift.io/cpu-usage` annotation, where the autoscaler reads it (there is
    /// no metrics-server).
    private func reportUsage() async {
        var last: [String: (uid: String, seconds: Double, at: ContinuousClock.Instant)] = [:]
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.usagePeriod)
            var seen: Set<String> = []
            for (key, entry) in workers.withLock({ $0 }) {
                seen.insert(key)
                let seconds = await entry.worker.cpuSeconds()
                let now = ContinuousClock.now
                defer { last[key] = (entry.uid, seconds, now) }
                guard let previous = last[key], previous.uid == entry.uid else { continue }
                let interval = previous.at.duration(to: now).components
                let elapsed = Double(interval.seconds) + Double(interval.attoseconds) / 1e18
                guard elapsed > 0 else { continue }
                let millicores = Int64(max(0, seconds - previous.seconds) / elapsed * 1000)
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                let usage = JSONValue.string("\(millicores)m")
                _ = try? await store.update(Self.podResource, namespace: parts[0], name: parts[1]) { current throws(APIError) in
                    guard PodFacts.uid(current) == entry.uid, !PodFacts.isTerminating(current) else { return current }
                    var updated = current
                    updated[path: ["metadata", "annotations", PodFacts.cpuUsageAnnotation]] = usage
                    return updated
                }
            }
            last = last.filter { seen.contains($0.key) }
        }
    }

    // MARK: Logs

    /// `GET /containerLogs/<namespace>/<pod>/<container>?previous=&tailLines=&follow=`, as the kubelet serves it.
    private func serve(_ request: HTTPRequest) async -> HTTPResponse {
        func text(_ status: HTTPResponseStatus, _ message: String) -> HTTPResponse {
            .full(status: status, contentType: "text/plain", body: Array(message.utf8))
        }
        if request.path == "/healthz" { return text(.ok, "ok") }
        let parts = request.path.split(separator: "/").map(String.init)
        guard request.method == .GET, parts.count == 4, parts[0] == "containerLogs" else { return text(.notFound, "404 page not found") }
        let (namespace, podName, container) = (parts[1], parts[2], parts[3])
        guard let worker = workers.withLock({ $0[Informer.key(namespace: namespace, name: podName)]?.worker }) else {
            return text(.notFound, "pod \(namespace)/\(podName) is not running on node \(name)")
        }
        let previous = request.query["previous"] == "true"
        guard let (path, run) = await worker.logPath(container: container, previous: previous) else {
            if await worker.containerNames.contains(container) {
                return text(.badRequest, "previous terminated container \"\(container)\" in pod \"\(podName)\" not found")
            }
            return text(.badRequest, "container \(container) is not valid for pod \(podName)")
        }
        var content = (FileManager.default.contents(atPath: path).map(Array.init)) ?? []
        if let tail = request.query["tailLines"].flatMap(Int.init) { content = Self.lastLines(content, tail) }
        guard request.query["follow"] == "true" else { return .full(status: .ok, contentType: "text/plain", body: content) }
        let offset = UInt64(FileManager.default.contents(atPath: path)?.count ?? 0)
        let (chunks, continuation) = AsyncStream<[UInt8]>.makeStream()
        let follower = Task {
            if !content.isEmpty { continuation.yield(content) }
            var position = offset
            while !Task.isCancelled {
                let writing = await worker.isWriting(container: container, run: run)
                if let handle = FileHandle(forReadingAtPath: path) {
                    try? handle.seek(toOffset: position)
                    if let data = try? handle.readToEnd(), !data.isEmpty {
                        position += UInt64(data.count)
                        continuation.yield(Array(data))
                    }
                    try? handle.close()
                }
                if !writing { break }
                try? await Task.sleep(for: .milliseconds(200))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in follower.cancel() }
        return .stream(contentType: "text/plain", chunks: chunks)
    }

    static func lastLines(_ content: [UInt8], _ count: Int) -> [UInt8] {
        guard count >= 0 else { return content }
        var newlines = 0
        var index = content.count
        // A final newline ends the last line rather than starting another.
        if index > 0 && content[index - 1] == UInt8(ascii: "\n") { index -= 1 }
        while index > 0 {
            if content[index - 1] == UInt8(ascii: "\n") {
                newlines += 1
                if newlines == count { return Array(content[index...]) }
            }
            index -= 1
        }
        return count == 0 ? [] : content
    }
}
