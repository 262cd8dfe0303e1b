import EtcdClient
import Foundation
import KubeAPI
import Testing
import TestSupport

/// DaemonSets, StatefulSets and the node lifecycle, driven by Debian's kubectl 1.20 against the
/// whole control plane on our etcd, with nodes that join, go silent and leave.
@Suite(.serialized) struct WorkloadTests {
    static let daemonSet = """
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec:
              containers: [{name: main, image: "agent:1", resources: {requests: {cpu: 50m}}}]
        """

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 4
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: main, image: "nginx:1.19", resources: {requests: {cpu: 100m}}}]
        """

    /// A DaemonSet follows a node that joins; the node's agent is killed, so the node becomes
    /// NotReady and unreachable-tainted, its deployment pod is evicted and replaced elsewhere
    /// while the daemon pod stays; deleting the node removes both of its pods; a new template
    /// rolls out node by node.
    @Test func aDaemonSetFollowsNodesAndASilentNodesPodsAreEvicted() async throws {
        let lifecycle = ["--node-monitor-period=500ms", "--node-monitor-grace-period=4s", "--pod-eviction-timeout=2s"]
        try await ControlPlaneTests.withCluster(leaseSeconds: 2, controllerFlags: lifecycle) { plane in
            try await plane.waitFor("three Ready nodes", "get", "nodes", "--no-headers") { output in
                output.split(separator: "\n").filter { $0.contains(" Ready ") }.count == 3
            }
            #expect(try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.daemonSet).contains("daemonset.apps/agent created"))
            let rolled = try plane.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
            #expect(rolled.exitCode == 0 && rolled.stdout.contains("daemon set \"agent\" successfully rolled out"), "\(rolled)")
            #expect(Set(try plane.pods("app=agent").values.map(\.node)) == ["sim-0", "sim-1", "sim-2"])

            // A fourth node joins: the set grows onto it.
            let edge = try plane.startNodeAgent(name: "edge", arguments: ["--node-lease-duration-seconds", "2"])
            defer { edge.send(SIGKILL) }
            try await plane.waitFor("a daemon pod on the new node", "get", "daemonset", "agent", "--no-headers") { row in
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["agent", "4", "4", "4"]
            }
            #expect(try plane.pods("app=agent").values.contains { $0.node == "edge" && $0.phase == "Running" })

            // Four replicas spread one per node, one of them on the edge node.
            try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.deployment)
            try await plane.waitFor("four web pods available", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "4" }
            let onEdge = try #require(try plane.pods("app=web").first { $0.value.node == "edge" }?.key, "no web pod on the edge node")

            // The edge node's agent dies: no more lease renewals.
            edge.send(SIGKILL)
            try await plane.waitFor("the edge node NotReady", "get", "node", "edge", "--no-headers") { $0.contains(" NotReady ") }
            let taints = try plane.ok("get", "node", "edge", "-o", "jsonpath={.spec.taints[*].key}")
            #expect(taints.contains("node.kubernetes.io/unreachable"), "\(taints)")
            #expect(try plane.ok("get", "node", "edge", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}") == "NodeStatusUnknown")
            // Its web pod is evicted (Terminating: nobody on the node can confirm it stopped) and
            // replaced on a live node; the daemon pod tolerates the taint and stays.
            try await plane.waitFor("the edge web pod evicted and replaced", "get", "pods", "-l", "app=web", "--no-headers",
                                    "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase,DELETING:.metadata.deletionTimestamp") { output in
                let rows = output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
                return rows.contains { $0.first.map(String.init) == onEdge && $0.last != "<none>" }
                    && rows.filter { $0.count == 4 && $0[1] != "edge" && $0[2] == "Running" && $0[3] == "<none>" }.count == 4
            }
            #expect(try plane.pods("app=agent").values.contains { $0.node == "edge" && !$0.terminating })
            try await plane.waitFor("an eviction event", "get", "events", "--field-selector", "reason=TaintManagerEviction", "--no-headers") {
                $0.contains(onEdge)
            }

            // The node is removed for good: the pods bound to it go, the set shrinks back.
            try plane.ok("delete", "node", "edge")
            try await plane.waitFor("no pods left on the deleted node", "get", "pods", "--no-headers",
                                    "-o", "custom-columns=NODE:.spec.nodeName") { !$0.contains("edge") && !$0.isEmpty }
            try await plane.waitFor("the set back to three", "get", "daemonset", "agent", "--no-headers") { row in
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["agent", "3", "3", "3"]
            }

            // A new template replaces the pods one node at a time.
            try plane.ok("set", "image", "daemonset/agent", "main=agent:2")
            let updated = try plane.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
            #expect(updated.exitCode == 0, "\(updated)")
            try await plane.waitFor("every daemon pod on the new image", "get", "pods", "-l", "app=agent", "--no-headers",
                                    "-o", "custom-columns=IMAGE:.spec.containers[0].image") { output in
                output.split(separator: "\n").sorted() == ["agent:2", "agent:2", "agent:2"]
            }
            let history = try plane.ok("rollout", "history", "daemonset/agent")
            #expect(history.contains("1 ") && history.contains("2 "), "\(history)")
            // Undo patches the set with its first revision's template.
            #expect(try plane.ok("rollout", "undo", "daemonset/agent").contains("rolled back"))
            try await plane.waitFor("every daemon pod on the first image again", "get", "pods", "-l", "app=agent", "--no-headers",
                                    "-o", "custom-columns=IMAGE:.spec.containers[0].image") { output in
                output.split(separator: "\n").sorted() == ["agent:1", "agent:1", "agent:1"]
            }
        }
    }

    static let statefulSet = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          serviceName: db
          replicas: 3
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec:
              containers: [{name: main, image: "postgres:13", resources: {requests: {cpu: 100m}}}]
          volumeClaimTemplates:
          - metadata: {name: data}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        """

    /// A StatefulSet's pods come up as db-0, db-1, db-2, each only after the one before is
    /// Ready, each with its own claim; scaling down removes the highest first and keeps claims;
    /// a new template replaces pods from the highest ordinal down.
    @Test func aStatefulSetCreatesAndRemovesItsPodsInOrderWithAClaimEach() async throws {
        try await ControlPlaneTests.withCluster(nodes: 2) { plane in
            let client = try EtcdClient(endpoints: plane.etcd.members.map(\.clientEndpoint))
            let store = ObjectStore(client: client)
            let pods = ResourceCatalog.find(group: "", plural: "pods")!
            let start = try await store.list(pods, namespace: "default").resourceVersion
            // Every change of the set's pods, in the store's order.
            let watched = Task {
                var seen: [(type: String, name: String, ready: Bool)] = []
                for try await event in store.watch(pods, namespace: "default", resourceVersion: start) {
                    guard ObjectStore.labels(of: event.object)["app"] == "db" else { continue }
                    seen.append((event.type, PodFacts.name(event.object), PodFacts.isReady(event.object)))
                    if event.type == "DELETED" && PodFacts.name(event.object) == "db-1" { break }
                }
                return seen
            }

            try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.statefulSet)
            let rolled = try plane.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
            #expect(rolled.exitCode == 0, "\(rolled)")
            #expect(try plane.ok("get", "statefulset", "db", "--no-headers").hasPrefix("db    3/3"))
            let running = try plane.pods("app=db")
            #expect(running.keys.sorted() == ["db-0", "db-1", "db-2"] && running.values.allSatisfy { $0.phase == "Running" }, "\(running)")
            let claims = try plane.ok("get", "pvc", "--no-headers", "-o", "name")
            #expect(claims.split(separator: "\n").sorted()
                    == ["persistentvolumeclaim/data-db-0", "persistentvolumeclaim/data-db-1", "persistentvolumeclaim/data-db-2"], "\(claims)")
            #expect(try plane.ok("get", "pod", "db-1", "-o", "jsonpath={.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}") == "data-db-1")
            #expect(try plane.ok("get", "pod", "db-2", "-o", "jsonpath={.spec.hostname}.{.spec.subdomain}") == "db-2.db")

            try plane.ok("scale", "statefulset", "db", "--replicas=1")
            try await plane.waitFor("one pod left", "get", "pods", "-l", "app=db", "--no-headers", "-o", "name") { $0 == "pod/db-0\n" }
            let events = try await watched.value
            await client.close()
            // Each pod was created only after the one before it was Ready.
            let added = events.filter { $0.type == "ADDED" }.map(\.name)
            #expect(added == ["db-0", "db-1", "db-2"], "\(events)")
            for (index, name) in added.enumerated().dropFirst() {
                let creation = events.firstIndex { $0.type == "ADDED" && $0.name == name }!
                let previousReady = events.firstIndex { $0.name == added[index - 1] && $0.ready }
                #expect(previousReady.map { $0 < creation } ?? false, "\(name) created before \(added[index - 1]) was Ready: \(events)")
            }
            let deleted = events.filter { $0.type == "DELETED" }.map(\.name)
            #expect(deleted == ["db-2", "db-1"], "\(events)")
            #expect(try plane.ok("get", "pvc", "--no-headers", "-o", "name").split(separator: "\n").count == 3, "claims are kept")

            // Back to two, on a new image: db-1 comes back with its old claim, then the rolling
            // update replaces db-1 and db-0 in that order.
            try plane.ok("scale", "statefulset", "db", "--replicas=2")
            try plane.ok("set", "image", "statefulset/db", "main=postgres:14")
            let updated = try plane.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
            #expect(updated.exitCode == 0 && updated.stdout.contains("rolling update complete"), "\(updated)")
            try await plane.waitFor("both pods on the new image", "get", "pods", "-l", "app=db", "--no-headers",
                                    "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image") { output in
                output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }.sorted()
                    == ["db-0 postgres:14", "db-1 postgres:14"]
            }
            #expect(try plane.ok("get", "pod", "db-1", "-o", "jsonpath={.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}") == "data-db-1")
            let history = try plane.ok("rollout", "history", "statefulset/db")
            #expect(history.contains("1 ") && history.contains("2 "), "\(history)")
            #expect(try plane.ok("rollout", "undo", "statefulset/db").contains("rolled back"))
            let undone = try plane.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
            #expect(undone.exitCode == 0, "\(undone)")
            #expect(try plane.ok("get", "pod", "db-0", "-o", "jsonpath={.spec.containers[0].image}") == "postgres:13")
        }
    }

    /// An autoscaler grows a deployment when its pods report CPU use above the target and
    /// shrinks it once the use has stayed low for the stabilization window.
    @Test func anAutoscalerScalesADeploymentOnItsPodsReportedCPU() async throws {
        let timing = ["--horizontal-pod-autoscaler-sync-period=1s", "--horizontal-pod-autoscaler-downscale-stabilization=3s"]
        try await ControlPlaneTests.withCluster(controllerFlags: timing) { plane in
            try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.deployment.replacingOccurrences(of: "replicas: 4", with: "replicas: 2"))
            try await plane.waitFor("two web pods available", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "2" }
            #expect(try plane.ok("autoscale", "deployment", "web", "--min=2", "--max=6", "--cpu-percent=50")
                .contains("horizontalpodautoscaler.autoscaling/web autoscaled"))
            // 150m used of 100m requested: 150% against a 50% target, so 2 × 3 = six pods.
            try plane.ok("annotate", "pods", "-l", "app=web", "metrics.kube-swift.io/cpu-usage=150m", "--overwrite")
            try await plane.waitFor("six replicas", "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") { $0 == "6" }
            try await plane.waitFor("the autoscaler's table row", "get", "hpa", "web", "--no-headers") { row in
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(6) == ["web", "Deployment/web", "150%/50%", "2", "6", "6"]
            }
            let events = try plane.ok("get", "events", "--field-selector", "reason=SuccessfulRescale", "--no-headers")
            #expect(events.contains("New size: 6; reason: cpu resource utilization (percentage of request) above target"), "\(events)")
            // 10m of 100m: 10%, so two pods, once the window has passed.
            try await plane.waitFor("six pods available", "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}") { $0 == "6" }
            try plane.ok("annotate", "pods", "-l", "app=web", "metrics.kube-swift.io/cpu-usage=10m", "--overwrite")
            try await plane.waitFor("back to two replicas", "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") { $0 == "2" }
        }
    }
}
