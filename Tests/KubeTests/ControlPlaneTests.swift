import EtcdClient
import Foundation
import KubeAPI
import Testing
import TestSupport

/// The whole control plane on our etcd: kube-apiserver, kube-controller-manager, kube-scheduler
/// and a node agent simulating three nodes, driven by Debian's kubectl 1.20 as a user would.
@Suite(.serialized) struct ControlPlaneTests {
    static func withCluster(nodes: Int = 3, members: Int = 1, leaseSeconds: Int = 40, controllerFlags: [String] = [],
                            _ body: (KubeControlPlane) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "kube-plane") { directory in
            let plane = try await KubeControlPlane.start(in: directory, etcdExecutable: try builtExecutable("etcd"), members: members)
                .withComponents(nodes: nodes, leaseSeconds: leaseSeconds, controllerFlags: controllerFlags)
            try await plane.run(body)
        }
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          strategy: {rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: main
                image: nginx:1.19
                resources: {requests: {cpu: 100m, memory: 64Mi}}
        """

    /// Running pods of the deployment, not being deleted: name and node.
    static func running(_ plane: KubeControlPlane) throws -> [(name: String, node: String)] {
        try plane.pods("app=web").filter { $0.value.phase == "Running" && !$0.value.terminating }.map { ($0.key, $0.value.node) }
    }

    @Test func aDeploymentRunsScalesRollsOutRollsBackAndIsDeletedWithItsPods() async throws {
        try await Self.withCluster { plane in
            try await plane.waitFor("three Ready nodes", "get", "nodes", "--no-headers") { output in
                output.split(separator: "\n").filter { $0.contains(" Ready ") && $0.contains("v1.20.2") }.count == 3
            }
            #expect(try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.deployment).contains("deployment.apps/web created"))
            let status = try plane.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
            #expect(status.exitCode == 0 && status.stdout.contains("successfully rolled out"), "\(status)")
            var pods = try Self.running(plane)
            #expect(pods.count == 3, "\(pods)")
            #expect(Set(pods.map(\.node)).count == 3, "the scheduler spreads replicas over the nodes: \(pods)")
            #expect(try plane.ok("get", "deployment", "web", "--no-headers").contains("3/3"))

            try plane.ok("scale", "deployment", "web", "--replicas=5")
            try await plane.waitFor("five pods running", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "5" }
            pods = try Self.running(plane)
            #expect(pods.count == 5, "\(pods)")

            // A service in front of them: its Endpoints list the five pods' addresses.
            #expect(try plane.ok("expose", "deployment", "web", "--port=80", "--target-port=8080").contains("service/web exposed"))
            try await plane.waitFor("five endpoints", "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}") {
                $0.split(separator: " ").count == 5
            }
            #expect(try plane.ok("get", "endpoints", "web", "-o", "jsonpath={.subsets[0].ports[0].port}") == "8080")

            // A new image rolls out through a second ReplicaSet, never below 4 available pods
            // (maxUnavailable 1), as the deployment's status shows at every change.
            let client = try EtcdClient(endpoints: plane.etcd.members.map(\.clientEndpoint))
            let store = ObjectStore(client: client)
            let deployments = ResourceCatalog.find(group: "apps", plural: "deployments")!
            let current = try await store.get(deployments, namespace: "default", name: "web")
            let observed = Task {
                var available: [Int64] = []
                for try await event in store.watch(deployments, namespace: "default", resourceVersion: ObjectStore.revision(of: current)) {
                    guard event.object[path: ["status", "observedGeneration"]] == event.object[path: ["metadata", "generation"]] else { continue }
                    available.append(event.object[path: ["status", "availableReplicas"]]?.intValue ?? 0)
                    if event.object[path: ["status", "updatedReplicas"]] == 5 && available.last == 5
                        && event.object[path: ["status", "replicas"]] == 5 { break }
                }
                return available
            }
            try plane.ok("set", "image", "deployment/web", "main=nginx:1.20")
            let rolled = try plane.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
            #expect(rolled.exitCode == 0, "\(rolled)")
            let availability = try await observed.value
            #expect(!availability.isEmpty && availability.min()! >= 4, "available replicas during the rollout: \(availability)")
            await client.close()
            let sets = try plane.ok("get", "replicasets", "--no-headers", "-o", "custom-columns=DESIRED:.spec.replicas,IMAGE:.spec.template.spec.containers[0].image")
            #expect(sets.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }.sorted()
                    == ["0 nginx:1.19", "5 nginx:1.20"], "\(sets)")
            let history = try plane.ok("rollout", "history", "deployment/web")
            #expect(history.contains("1 ") && history.contains("2 "), "\(history)")

            // Undo brings the first template back as revision 3.
            #expect(try plane.ok("rollout", "undo", "deployment/web").contains("rolled back"))
            let undone = try plane.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
            #expect(undone.exitCode == 0, "\(undone)")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1.19")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}") == "3")
            try await plane.waitFor("pods of the first image", "get", "pods", "-l", "app=web", "--no-headers",
                                    "-o", "custom-columns=IMAGE:.spec.containers[0].image") { output in
                output.split(separator: "\n").count == 5 && output.split(separator: "\n").allSatisfy { $0 == "nginx:1.19" }
            }

            // Deleting the deployment deletes its ReplicaSets and their pods (background cascade).
            try plane.ok("delete", "deployment", "web")
            try await plane.waitFor("pods and replica sets gone", "get", "pods,replicasets", "--no-headers", "-o", "name") { $0.isEmpty }
            try plane.ok("delete", "service", "web")
            try await plane.waitFor("the endpoints gone with the service", "get", "endpoints", "--no-headers", "-o", "name") { $0.isEmpty }
        }
    }

    @Test func podsThatFitNowhereWaitFailedStartsAreRetriedAndNamespacesAreEmptiedWhenDeleted() async throws {
        try await Self.withCluster(nodes: 2) { plane in
            try await plane.waitFor("two Ready nodes", "get", "nodes", "--no-headers") { output in
                output.split(separator: "\n").filter { $0.contains(" Ready ") }.count == 2
            }
            try plane.ok("create", "namespace", "team")
            let big = """
                apiVersion: v1
                kind: Pod
                metadata: {name: big, namespace: team}
                spec:
                  containers: [{name: main, image: busybox, resources: {requests: {cpu: "6"}}}]
                """
            try plane.ok("create", "--validate=false", "-f", "-", stdin: big)
            let pinned = """
                apiVersion: v1
                kind: Pod
                metadata: {name: pinned, namespace: team}
                spec:
                  nodeSelector: {kubernetes.io/hostname: sim-1}
                  containers: [{name: main, image: busybox}]
                """
            try plane.ok("create", "--validate=false", "-f", "-", stdin: pinned)
            try await plane.waitFor("the pinned pod running on sim-1", "get", "pod", "pinned", "-n", "team", "--no-headers",
                                    "-o", "custom-columns=NODE:.spec.nodeName,PHASE:.status.phase") { $0.contains("sim-1") && $0.contains("Running") }
            try await plane.waitFor("a FailedScheduling event for the big pod", "get", "events", "-n", "team",
                                    "--field-selector", "involvedObject.name=big", "--no-headers") { $0.contains("Insufficient cpu") }
            #expect(try plane.ok("get", "pod", "big", "-n", "team", "-o", "jsonpath={.status.phase}") == "Pending")
            #expect(try plane.ok("describe", "pod", "big", "-n", "team").contains("0/2 nodes are available: 2 Insufficient cpu."))

            // Simulated failures: flaky's first start fails and is tried again at once; once
            // (restartPolicy Never) fails for good.
            for (name, policy) in [("flaky", "Always"), ("once", "Never")] {
                try plane.ok("create", "--validate=false", "-f", "-", stdin: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: \(name), namespace: team, annotations: {simulated.kube-swift.io/failed-starts: "1"}}
                    spec:
                      restartPolicy: \(policy)
                      containers: [{name: main, image: busybox}]
                    """)
            }
            try await plane.waitFor("flaky running after a restart", "get", "pod", "flaky", "-n", "team", "--no-headers") { row in
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["flaky", "1/1", "Running", "1"]
            }
            try await plane.waitFor("once failed", "get", "pod", "once", "-n", "team", "--no-headers") { row in
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["once", "0/1", "Error", "0"]
            }
            #expect(try plane.ok("get", "pod", "once", "-n", "team", "-o", "jsonpath={.status.phase}") == "Failed")

            // A pod held by a finalizer: its node's agent confirms the stop (grace period down to
            // 0), and the pod goes once the finalizer is removed.
            try plane.ok("create", "--validate=false", "-f", "-", stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: held, namespace: team, finalizers: [example.com/hold]}
                spec: {containers: [{name: main, image: busybox}]}
                """)
            try await plane.waitFor("held running", "get", "pod", "held", "-n", "team", "-o", "jsonpath={.status.phase}") { $0 == "Running" }
            try plane.ok("delete", "pod", "held", "-n", "team", "--wait=false")
            try await plane.waitFor("the stop confirmed", "get", "pod", "held", "-n", "team",
                                    "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}") { $0 == "0" }
            try plane.ok("patch", "pod", "held", "-n", "team", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#)
            try await plane.waitFor("held gone", "get", "pods", "-n", "team", "--no-headers", "-o", "name") { !$0.contains("pod/held") }

            try plane.ok("delete", "namespace", "team", "--wait=false")
            try await plane.waitFor("the namespace gone", "get", "namespaces", "--no-headers", "-o", "name") { !$0.contains("namespace/team") }
            let refused = try plane.kubectl("create", "configmap", "x", "-n", "team")
            #expect(refused.exitCode != 0)
        }
    }

    /// The store's leader is killed while the control plane works on it: the components fail over
    /// to the other two members and go on (the deployment scales, a new one rolls out).
    @Test func theControlPlaneKeepsWorkingWhenTheStoresLeaderIsKilled() async throws {
        try await Self.withCluster(members: 3) { plane in
            try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.deployment)
            try await plane.waitFor("three pods available", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "3" }

            let client = try EtcdClient(endpoints: plane.etcd.members.map(\.clientEndpoint))
            var leader: Int?
            for index in plane.etcd.members.indices {
                let status = try await client.status(endpoint: index)
                if status.leader == status.header.memberID { leader = index }
            }
            await client.close()
            let killed = try #require(leader, "no member says it leads")
            plane.etcd.members[killed].process.send(SIGKILL)

            // kubectl may meet the election; the request is simply tried again, as a user would.
            try await plane.waitFor("the scale accepted", "scale", "deployment", "web", "--replicas=6") { $0.contains("scaled") }
            try await plane.waitFor("six pods available", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "6" }
            try await plane.waitFor("a second deployment created", "create", "deployment", "api", "--image=busybox:1.32", "--replicas=2") {
                $0.contains("created")
            }
            let rolled = try plane.kubectl("rollout", "status", "deployment/api", "--timeout=60s")
            #expect(rolled.exitCode == 0, "\(rolled)")
            for component in [plane.apiserver] + plane.components { #expect(component.isRunning, "\(component.name) stopped") }
        }
    }
}
