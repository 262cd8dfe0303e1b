import Foundation
import Testing
import TestSupport

/// A node agent whose containers are local processes (`kubelet --runtime process`), driven by
/// Debian's kubectl 1.20: restarts after exits and failed liveness probes, readiness from probes,
/// logs through the apiserver, and processes stopped with their pod.
@Suite(.serialized) struct ProcessRuntimeTests {
    static func withProcessNode(controllerFlags: [String] = [], _ body: (KubeControlPlane, String) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "kube-process") { directory in
            var plane = try await KubeControlPlane.start(in: directory, etcdExecutable: try builtExecutable("etcd"))
                .withComponents(nodes: 0, controllerFlags: controllerFlags)
            let root = directory.appending("kubelet-local")
            // Stopped with the plane (SIGTERM), so that it stops its containers first.
            plane.components.append(try plane.startNodeAgent(name: "local", arguments: ["--runtime", "process", "--root-dir", root, "--port", "0",
                                                                                        "--housekeeping-interval", "1s"]))
            try await plane.run { plane in
                try await plane.waitFor("the process node Ready", "get", "nodes", "--no-headers") { $0.contains("local   Ready") }
                try await body(plane, directory.path)
            }
        }
    }

    static let crasher = """
        apiVersion: v1
        kind: Pod
        metadata: {name: crasher}
        spec:
          containers:
          - name: main
            image: busybox
            command: [sh, -c, 'echo "run of $POD_NAME on $NODE"; sleep 1; exit 3']
            env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        """

    /// A container whose process exits is started again at once, then backs off; both runs'
    /// output is there for `kubectl logs` and `kubectl logs --previous`.
    @Test func aPodWhoseProcessExitsIsRestartedAndItsLogsAreKept() async throws {
        try await Self.withProcessNode { plane, _ in
            try plane.ok("create", "--validate=false", "-f", "-", stdin: Self.crasher)
            try await plane.waitFor("a restart", "get", "pod", "crasher", "-o", "jsonpath={.status.containerStatuses[0].restartCount}") {
                (Int($0) ?? 0) >= 1
            }
            #expect(try plane.ok("get", "pod", "crasher", "-o", "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}") == "3")
            #expect(try plane.ok("logs", "crasher", "--previous") == "run of crasher on local\n")
            // After the second exit the kubelet backs off (10 s), as `kubectl get` shows.
            try await plane.waitFor("CrashLoopBackOff", "get", "pod", "crasher", "--no-headers") { $0.contains("CrashLoopBackOff") }
            #expect(try plane.ok("logs", "crasher") == "run of crasher on local\n")
            #expect(try plane.ok("logs", "crasher", "--tail=1") == "run of crasher on local\n")
            #expect(try plane.ok("logs", "--follow", "crasher") == "run of crasher on local\n", "a finished run's log ends the follow")
            let events = try plane.ok("get", "events", "--field-selector", "involvedObject.name=crasher", "--no-headers")
            #expect(events.contains("BackOff") && events.contains("Started"), "\(events)")
            // The environment from a ConfigMap and a Secret (given as stringData); a missing
            // ConfigMap is a CreateContainerConfigError.
            try plane.ok("apply", "--validate=false", "-f", "-", stdin: """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: settings}
                data: {greeting: hello, colour: blue}
                ---
                apiVersion: v1
                kind: Secret
                metadata: {name: credentials}
                stringData: {token: s3cret}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: env-check}
                spec:
                  restartPolicy: Never
                  containers:
                  - name: main
                    image: busybox
                    command: [sh, -c, 'echo "$GREETING $TOKEN $CFG_colour"']
                    env:
                    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
                    - {name: TOKEN, valueFrom: {secretKeyRef: {name: credentials, key: token}}}
                    envFrom: [{configMapRef: {name: settings}, prefix: CFG_}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: unconfigured}
                spec:
                  containers:
                  - {name: main, image: busybox, command: [sleep, "100"], env: [{name: X, valueFrom: {configMapKeyRef: {name: absent, key: x}}}]}
                """)
            try await plane.waitFor("env-check done", "get", "pod", "env-check", "-o", "jsonpath={.status.phase}") { $0 == "Succeeded" }
            #expect(try plane.ok("logs", "env-check") == "hello s3cret blue\n")
            try await plane.waitFor("the missing ConfigMap reported", "get", "pod", "unconfigured", "--no-headers") { $0.contains("CreateContainerConfigError") }

            let missing = try plane.kubectl("logs", "crasher", "-c", "other")
            #expect(missing.exitCode != 0 && missing.stderr.contains("container other is not valid for pod crasher"), "\(missing)")
        }
    }

    /// An HTTP liveness probe that starts failing gets the container killed and restarted; a
    /// TCP and an exec readiness probe decide when the pod is Ready; deleting the pod stops its
    /// processes.
    @Test func aFailingLivenessProbeRestartsTheContainer() async throws {
        try await Self.withProcessNode { plane, directory in
            let port = try FreePorts.allocate(1)[0]
            let site = directory + "/site"
            try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
            try "ok".write(toFile: site + "/healthy", atomically: true, encoding: .utf8)
            let pod = """
                apiVersion: v1
                kind: Pod
                metadata: {name: server}
                spec:
                  terminationGracePeriodSeconds: 5
                  containers:
                  - name: web
                    image: python
                    command: [python3, -m, http.server, "\(port)", --bind, 127.0.0.1, --directory, "\(site)"]
                    ports: [{name: http, containerPort: \(port)}]
                    livenessProbe: {httpGet: {path: /healthy, port: http}, periodSeconds: 1, failureThreshold: 2}
                    readinessProbe: {tcpSocket: {port: \(port)}, periodSeconds: 1}
                  - name: ticker
                    image: busybox
                    command: [sh, -c, 'while true; do echo tick; sleep 1; done']
                    readinessProbe: {exec: {command: [test, -f, "\(site)/ready"]}, periodSeconds: 1}
                """
            try plane.ok("create", "--validate=false", "-f", "-", stdin: pod)
            try await plane.waitFor("both containers running", "get", "pod", "server", "--no-headers") { $0.contains("0/2") || $0.contains("1/2") }
            try await Task.sleep(for: .seconds(2))
            #expect(try plane.ok("get", "pod", "server", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}") == "False",
                    "not Ready while the exec probe fails")
            try "".write(toFile: site + "/ready", atomically: true, encoding: .utf8)
            try await plane.waitFor("Ready", "get", "pod", "server", "--no-headers") { $0.contains("2/2") && $0.contains("Running") }
            #expect(try HTTPProbe.get(port: port, path: "/healthy").status == 200)
            let ambiguous = try plane.kubectl("logs", "server")
            #expect(ambiguous.exitCode != 0 && ambiguous.stderr.contains("a container name must be specified for pod server, choose one of: [web ticker]"),
                    "\(ambiguous)")
            #expect(try plane.ok("logs", "server", "-c", "ticker").hasPrefix("tick\n"))

            // The health file goes: two failed probes, then the container is killed and started again.
            try FileManager.default.removeItem(atPath: site + "/healthy")
            try await plane.waitFor("the web container restarted", "get", "pod", "server",
                                    "-o", "jsonpath={.status.containerStatuses[?(@.name==\"web\")].restartCount}") { $0 == "1" }
            try "ok".write(toFile: site + "/healthy", atomically: true, encoding: .utf8)
            let events = try plane.ok("get", "events", "--field-selector", "involvedObject.name=server", "--no-headers")
            #expect(events.contains("Liveness probe failed: HTTP probe failed with statuscode: 404"), "\(events)")
            #expect(events.contains("Container web failed liveness probe, will be restarted"), "\(events)")
            #expect(try plane.ok("get", "pod", "server", "-o", "jsonpath={.status.containerStatuses[?(@.name==\"ticker\")].restartCount}") == "0")
            try await plane.waitFor("Ready again", "get", "pod", "server", "--no-headers") { $0.contains("2/2") }

            // Deleting the pod stops its processes before the pod goes.
            try plane.ok("delete", "pod", "server", "--wait=true", "--timeout=30s")
            #expect((try? HTTPProbe.get(port: port, path: "/healthy")) == nil, "the server process is gone with its pod")
        }
    }

    /// The node agent measures each pod's CPU use (from /proc) and reports it; an autoscaler
    /// grows a deployment whose one pod spins a whole core against a 200m request.
    @Test func aBusyDeploymentIsScaledByItsMeasuredCPU() async throws {
        try await Self.withProcessNode(controllerFlags: ["--horizontal-pod-autoscaler-sync-period=1s"]) { plane, _ in
            let deployment = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: spin}
                spec:
                  replicas: 1
                  selector: {matchLabels: {app: spin}}
                  template:
                    metadata: {labels: {app: spin}}
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers:
                      - {name: main, image: busybox, command: [sh, -c, 'while :; do :; done'], resources: {requests: {cpu: 200m}}}
                """
            try plane.ok("apply", "--validate=false", "-f", "-", stdin: deployment)
            try await plane.waitFor("the pod's CPU use reported", "get", "pods", "-l", "app=spin",
                                    "-o", "jsonpath={.items[0].metadata.annotations.metrics\\.kube-swift\\.io/cpu-usage}") { usage in
                usage.hasSuffix("m") && (Int(usage.dropLast()) ?? 0) >= 300
            }
            try plane.ok("autoscale", "deployment", "spin", "--min=1", "--max=2", "--cpu-percent=50")
            try await plane.waitFor("two replicas", "get", "deployment", "spin", "-o", "jsonpath={.spec.replicas}") { $0 == "2" }
            try plane.ok("delete", "deployment", "spin")
            try await plane.waitFor("the spinning pods gone", "get", "pods", "-l", "app=spin", "--no-headers", "-o", "name") { $0.isEmpty }
        }
    }
}
