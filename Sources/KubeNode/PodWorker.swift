import Foundation
import KubeAPI

/// One pod on a process node: each container's command runs as a child process, restarted as
/// the pod's restartPolicy says (at once the first time, then after 10 s, 20 s, ... up to 5 min,
/// as the kubelet backs off), killed and restarted when its liveness probe fails, ready when its
/// readiness probe passes. Every change is written to the pod's status.
actor PodWorker {
    struct Container {
        var spec: JSONValue
        var name: String { spec["name"]?.stringValue ?? "" }
        var restartCount = 0
        var process: SpawnedProcess?
        /// The current state as the API shows it (`running`, `terminated` or `waiting`).
        var state: JSONValue = ["waiting": ["reason": "ContainerCreating"]]
        var lastState: JSONValue = [:]
        var ready = false
        var started = false
        /// How long the next restart waits, and when the last run ended (ten quiet minutes reset it).
        var backoff: Duration = .zero
        var lastFinish: ContinuousClock.Instant?
    }

    let pod: JSONValue
    /// `<root>/<namespace>_<name>_<uid>`: the containers' logs, one file per run.
    let directory: String
    let store: ObjectStore
    let events: EventRecorder
    let node: String
    var containers: [Container]
    var stopping = false
    var probeTasks: [Task<Void, Never>] = []
    var publishing = false
    var dirty = false
    let startTime = JSONValue.string(ObjectRules.timestamp(Date()))
    static let podResource = ResourceCatalog.find(group: "", plural: "pods")!

    init(pod: JSONValue, root: String, store: ObjectStore, events: EventRecorder, node: String) {
        self.pod = pod
        directory = "\(root)/\(PodFacts.namespace(pod))_\(PodFacts.name(pod))_\(PodFacts.uid(pod))"
        self.store = store
        self.events = events
        self.node = node
        containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).map { Container(spec: $0) }
    }

    func start() {
        for index in containers.indices {
            let containerDirectory = "\(directory)/\(containers[index].name)"
            // A run left by an agent that died (its processes outlive it, in their own groups).
            if let text = try? String(contentsOfFile: "\(containerDirectory)/pid", encoding: .utf8), let pid = Int32(text), pid > 1 {
                kill(-pid, SIGKILL)
            }
            try? FileManager.default.createDirectory(atPath: containerDirectory, withIntermediateDirectories: true)
            Task { await self.run(index) }
            for kind in ["livenessProbe", "readinessProbe"] {
                if let probe = Probe(containers[index].spec[kind], container: containers[index].spec) {
                    probeTasks.append(Task { await self.watch(index, probe: probe, liveness: kind == "livenessProbe") })
                }
            }
        }
        publish()
    }

    /// Stops every container (SIGTERM, then SIGKILL after `grace`) and writes their last state.
    func stop(grace: Duration) async {
        stopping = true
        // The probes end now; the containers' loops end when their processes have exited.
        for task in probeTasks { task.cancel() }
        await withTaskGroup(of: Void.self) { group in
            for container in containers {
                if let process = container.process { group.addTask { _ = await process.stop(grace: grace) } }
            }
        }
    }

    /// The log of a container's run: the current one, or the one before.
    func logPath(container: String, previous: Bool) -> (path: String, run: Int)? {
        guard let found = containers.first(where: { $0.name == container }) else { return nil }
        let run = found.restartCount - (previous ? 1 : 0)
        guard run >= 0 else { return nil }
        return ("\(directory)/\(container)/\(run).log", run)
    }

    /// Whether the container's run `run` may still write to its log.
    func isWriting(container: String, run: Int) -> Bool {
        guard let found = containers.first(where: { $0.name == container }) else { return false }
        return found.restartCount == run && found.process != nil
    }

    var containerNames: [String] { containers.map(\.name) }

    /// The CPU seconds the pod's running containers have used.
    func cpuSeconds() -> Double {
        SpawnedProcess.cpuSeconds(ofGroups: Set(containers.compactMap { $0.process?.pid }))
    }

    // MARK: Running

    private func run(_ index: Int) async {
        while !stopping {
            let spec = containers[index].spec
            let name = containers[index].name
            let command = (spec["command"]?.arrayValue ?? []).compactMap(\.stringValue) + (spec["args"]?.arrayValue ?? []).compactMap(\.stringValue)
            let log = "\(directory)/\(name)/\(containers[index].restartCount).log"
            var exitCode: Int32
            let started = Date()
            do {
                guard spec["command"] != nil, !command.isEmpty else {
                    throw SpawnedProcess.SpawnError(description: "the process runtime runs a container's command; container \"\(name)\" has none (its image \(spec["image"]?.stringValue ?? "") is not run)")
                }
                let environment = try await environment(for: spec)
                let process = try SpawnedProcess(command: command, environment: environment,
                                                 directory: spec["workingDir"]?.stringValue, output: log)
                try? String(process.pid).write(toFile: "\(directory)/\(name)/pid", atomically: true, encoding: .utf8)
                containers[index].process = process
                containers[index].started = true
                containers[index].ready = Probe(spec["readinessProbe"], container: spec) == nil
                containers[index].state = ["running": ["startedAt": .string(ObjectRules.timestamp(started))]]
                publish()
                await events.record(pod, reason: "Started",
                                    message: "Started container \(name)", host: node)
                exitCode = await process.wait() ?? 255
            } catch let error as ConfigError {
                // Nothing was started: the kubelet waits and tries again, counting no restart.
                containers[index].state = ["waiting": ["reason": "CreateContainerConfigError", "message": .string("\(error)")]]
                publish()
                await events.record(pod, type: "Warning", reason: "Failed", message: "Error: \(error)", host: node)
                try? await Task.sleep(for: .seconds(10))
                continue
            } catch {
                containers[index].state = ["waiting": ["reason": "RunContainerError", "message": .string("\(error)")]]
                publish()
                await events.record(pod, type: "Warning", reason: "Failed", message: "Error: \(error)", host: node)
                exitCode = 128
            }
            containers[index].process = nil
            containers[index].ready = false
            let finished = ObjectRules.timestamp(Date())
            let terminated: JSONValue = [
                "exitCode": .int(Int64(exitCode)), "reason": exitCode == 0 ? "Completed" : "Error",
                "startedAt": .string(ObjectRules.timestamp(started)), "finishedAt": .string(finished),
                "containerID": .string("process://\(PodFacts.uid(pod))/\(name)/\(containers[index].restartCount)"),
            ]
            containers[index].state = ["terminated": terminated]
            if stopping { break }
            let policy = pod[path: ["spec", "restartPolicy"]]?.stringValue ?? "Always"
            guard policy == "Always" || (policy == "OnFailure" && exitCode != 0) else {
                publish()
                return
            }
            // The kubelet's backoff: the first restart at once, then 10 s doubling up to 5 min;
            // ten minutes without a crash start it over.
            let now = ContinuousClock.now
            if let last = containers[index].lastFinish, last.duration(to: now) > .seconds(600) { containers[index].backoff = .zero }
            let delay = containers[index].backoff
            containers[index].backoff = delay == .zero ? .seconds(10) : min(delay * 2, .seconds(300))
            containers[index].lastFinish = now
            containers[index].lastState = ["terminated": terminated]
            if delay > .zero {
                containers[index].state = ["waiting": [
                    "reason": "CrashLoopBackOff",
                    "message": .string("back-off \(delay.components.seconds)s restarting failed container=\(name) pod=\(PodFacts.name(pod))_\(PodFacts.namespace(pod))(\(PodFacts.uid(pod)))"),
                ]]
                publish()
                await events.record(pod, type: "Warning", reason: "BackOff", message: "Back-off restarting failed container", host: node)
                try? await Task.sleep(for: delay)
                if stopping || Task.isCancelled { break }
            }
            containers[index].restartCount += 1
        }
        publish()
    }

    /// Runs a probe against the container's current run; a liveness probe that fails
    /// `failureThreshold` times in a row kills the run (the restart policy decides what follows).
    private func watch(_ index: Int, probe: Probe, liveness: Bool) async {
        let kind = liveness ? "Liveness" : "Readiness"
        let scratch = "\(directory)/\(containers[index].name)/\(kind.lowercased())-probe.out"
        var run = -1
        var failures = 0
        var successes = 0
        while !stopping && !Task.isCancelled {
            guard containers[index].process != nil else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            if run != containers[index].restartCount {
                run = containers[index].restartCount
                failures = 0
                successes = 0
                try? await Task.sleep(for: probe.initialDelay)
                continue
            }
            let environment = (try? await environment(for: containers[index].spec)) ?? [:]
            let failure = await probe.attempt(environment: environment, directory: containers[index].spec["workingDir"]?.stringValue,
                                              scratch: scratch)
            guard !stopping, run == containers[index].restartCount, containers[index].process != nil else { continue }
            if let failure {
                successes = 0
                failures += 1
                await events.record(pod, type: "Warning", reason: "Unhealthy", message: "\(kind) probe failed: \(failure)", host: node)
                if failures >= probe.failureThreshold {
                    if liveness, let process = containers[index].process {
                        await events.record(pod, reason: "Killing",
                                            message: "Container \(containers[index].name) failed liveness probe, will be restarted", host: node)
                        failures = 0
                        let grace = pod[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30
                        _ = await process.stop(grace: .seconds(grace))
                    } else if !liveness, containers[index].ready {
                        containers[index].ready = false
                        publish()
                    }
                }
            } else {
                failures = 0
                successes += 1
                if !liveness, successes >= probe.successThreshold, !containers[index].ready {
                    containers[index].ready = true
                    publish()
                }
            }
            try? await Task.sleep(for: probe.period)
        }
    }

    /// Why a container's configuration cannot be made (a missing ConfigMap, Secret or key):
    /// the kubelet's CreateContainerConfigError.
    struct ConfigError: Error, CustomStringConvertible {
        var description: String
    }

    /// The container's environment: `envFrom` (ConfigMaps and Secrets, with their prefixes), then
    /// `env` (values, the pod's own fields, keys of ConfigMaps and Secrets), over PATH, HOSTNAME
    /// and HOME.
    private func environment(for spec: JSONValue) async throws -> [String: String] {
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "HOSTNAME": PodFacts.name(pod), "HOME": directory]
        for source in spec["envFrom"]?.arrayValue ?? [] {
            let prefix = source["prefix"]?.stringValue ?? ""
            for (kind, field) in [("ConfigMap", "configMapRef"), ("Secret", "secretRef")] {
                guard let reference = source[field], let name = reference["name"]?.stringValue else { continue }
                guard let values = try await data(of: kind, name: name, optional: reference["optional"]?.boolValue == true) else { continue }
                for (key, value) in values { environment[prefix + key] = value }
            }
        }
        for variable in spec["env"]?.arrayValue ?? [] {
            guard let name = variable["name"]?.stringValue else { continue }
            let source = variable["valueFrom"]
            if let value = variable["value"]?.stringValue {
                environment[name] = value
            } else if let field = source?[path: ["fieldRef", "fieldPath"]]?.stringValue {
                switch field {
                case "metadata.name": environment[name] = PodFacts.name(pod)
                case "metadata.namespace": environment[name] = PodFacts.namespace(pod)
                case "metadata.uid": environment[name] = PodFacts.uid(pod)
                case "spec.nodeName": environment[name] = node
                case "status.podIP", "status.hostIP": environment[name] = "127.0.0.1"
                default: throw ConfigError(description: "env \(name): unsupported fieldPath \(field)")
                }
            } else if let (kind, reference) = [("ConfigMap", source?["configMapKeyRef"]), ("Secret", source?["secretKeyRef"])]
                .first(where: { $0.1 != nil }), let reference, let sourceName = reference["name"]?.stringValue,
                let key = reference["key"]?.stringValue {
                let optional = reference["optional"]?.boolValue == true
                guard let values = try await data(of: kind, name: sourceName, optional: optional) else { continue }
                if let value = values[key] {
                    environment[name] = value
                } else if !optional {
                    throw ConfigError(description: "couldn't find key \(key) in \(kind) \(PodFacts.namespace(pod))/\(sourceName)")
                }
            } else if source != nil {
                throw ConfigError(description: "env \(name): the process runtime takes values, fieldRefs, configMapKeyRefs and secretKeyRefs")
            } else {
                environment[name] = ""
            }
        }
        return environment
    }

    /// A ConfigMap's data or a Secret's (decoded) of the pod's namespace; nil when it is missing
    /// and optional.
    private func data(of kind: String, name: String, optional: Bool) async throws -> [String: String]? {
        let resource = ResourceCatalog.find(kind: kind)!
        let object: JSONValue
        do {
            object = try await store.get(resource, namespace: PodFacts.namespace(pod), name: name)
        } catch {
            guard error.reason == "NotFound" else { throw error }
            if optional { return nil }
            throw ConfigError(description: "\(kind.lowercased()) \"\(name)\" not found")
        }
        var values: [String: String] = [:]
        for (key, value) in object["data"]?.objectValue ?? [:] {
            guard let text = value.stringValue else { continue }
            values[key] = kind == "Secret" ? Data(base64Encoded: text).map { String(decoding: $0, as: UTF8.self) } ?? "" : text
        }
        return values
    }

    // MARK: Status

    /// Writes the status; one write at a time, the newest state last.
    private func publish() {
        dirty = true
        guard !publishing else { return }
        publishing = true
        let (store, namespace, name, uid) = (store, PodFacts.namespace(pod), PodFacts.name(pod), PodFacts.uid(pod))
        Task {
            while self.takeDirty() {
                let status = self.status()
                _ = try? await store.update(Self.podResource, namespace: namespace, name: name) { @Sendable current throws(APIError) in
                    guard PodFacts.uid(current) == uid else { return current }
                    var updated = current
                    var merged = status
                    let previous = current[path: ["status", "conditions"]]?.arrayValue ?? []
                    // A condition keeps its transition time while its status stays the same.
                    let conditions = (status["conditions"]?.arrayValue ?? []).map { condition in
                        guard let before = previous.first(where: { $0["type"] == condition["type"] }),
                              before["status"] == condition["status"] else { return condition }
                        var kept = condition
                        kept["lastTransitionTime"] = before["lastTransitionTime"]
                        return kept
                    }
                    merged["conditions"] = .array(previous.filter { $0["type"] == "PodScheduled" } + conditions)
                    updated["status"] = merged
                    return updated
                }
            }
        }
    }

    private func takeDirty() -> Bool {
        if dirty {
            dirty = false
            return true
        }
        publishing = false
        return false
    }

    func status() -> JSONValue {
        let now = JSONValue.string(ObjectRules.timestamp(Date()))
        let policy = pod[path: ["spec", "restartPolicy"]]?.stringValue ?? "Always"
        let finished = containers.allSatisfy { container in
            guard let exit = container.state[path: ["terminated", "exitCode"]]?.intValue else { return false }
            return policy == "Never" || (policy == "OnFailure" && exit == 0) || stopping
        }
        let phase: String
        if finished {
            phase = containers.allSatisfy { $0.state[path: ["terminated", "exitCode"]]?.intValue == 0 } ? "Succeeded" : "Failed"
        } else {
            phase = containers.contains(where: \.started) ? "Running" : "Pending"
        }
        let ready = containers.allSatisfy { $0.ready && $0.process != nil }
        func condition(_ type: String, _ value: Bool) -> JSONValue {
            ["type": .string(type), "status": value ? "True" : "False", "lastProbeTime": .null, "lastTransitionTime": now]
        }
        let requests = containers.contains { $0.spec["resources"]?["requests"] != nil || $0.spec["resources"]?["limits"] != nil }
        return [
            "phase": .string(phase),
            "conditions": [condition("Initialized", true), condition("Ready", ready), condition("ContainersReady", ready)],
            "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [["ip": "127.0.0.1"]],
            "startTime": startTime, "qosClass": requests ? "Burstable" : "BestEffort",
            "containerStatuses": .array(containers.map { container in
                ["name": .string(container.name), "image": container.spec["image"] ?? "", "imageID": "",
                 "containerID": .string("process://\(PodFacts.uid(pod))/\(container.name)/\(container.restartCount)"),
                 "ready": .bool(container.ready && container.process != nil), "started": .bool(container.process != nil),
                 "restartCount": .int(Int64(container.restartCount)), "state": container.state, "lastState": container.lastState]
            }),
        ]
    }
}
