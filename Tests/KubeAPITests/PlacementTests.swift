import Foundation
import Testing
@testable import KubeAPI
@testable import KubeControllers
@testable import KubeScheduler

/// The scheduler's filters and scores, the deployment controller's rollout arithmetic and the
/// store's object rules, without a store.
@Suite struct PlacementTests {
    static func node(_ name: String, cpu: String = "2", memory: String = "4Gi", ready: Bool = true,
                     labels: [String: JSONValue] = [:], taints: [JSONValue] = [], unschedulable: Bool = false) -> JSONValue {
        var labels = labels
        labels["kubernetes.io/hostname"] = .string(name)
        return ["kind": "Node", "metadata": ["name": .string(name), "labels": .object(labels)],
                "spec": ["taints": .array(taints), "unschedulable": .bool(unschedulable)],
                "status": ["allocatable": ["cpu": .string(cpu), "memory": .string(memory), "pods": "110"],
                           "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]]
    }

    static func pod(_ name: String, cpu: String = "100m", node: String? = nil, owner: String? = nil,
                    extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: JSONValue = ["containers": [["name": "c", "image": "i", "resources": ["requests": ["cpu": .string(cpu)]]]]]
        if let node { spec["nodeName"] = .string(node) }
        for (key, value) in extra { spec[key] = value }
        var metadata: JSONValue = ["name": .string(name), "namespace": "default"]
        if let owner { metadata["ownerReferences"] = [["uid": .string(owner), "controller": true]] }
        return ["kind": "Pod", "metadata": metadata, "spec": spec]
    }

    @Test func resourcesReadinessSelectorsAndTaintsDecideWhereAPodFits() {
        let nodes = [Self.node("a", cpu: "1"), Self.node("b", ready: false), Self.node("c", unschedulable: true),
                     Self.node("d", labels: ["disk": "ssd"], taints: [["key": "dedicated", "value": "db", "effect": "NoSchedule"]])]
        let busy = [Self.pod("p1", cpu: "900m", node: "a")]
        // Too big for a, b not ready, c cordoned, d tainted.
        let big = Placement.choose(Self.pod("x", cpu: "500m"), nodes: nodes, placed: busy)
        #expect(big.node == nil)
        #expect(big.reason == "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) had taint {dedicated: db}, that the pod didn't tolerate, 1 node(s) were not ready, 1 node(s) were unschedulable.")
        let tolerant = Self.pod("y", extra: ["tolerations": [["key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"]],
                                             "nodeSelector": ["disk": "ssd"]])
        #expect(Placement.choose(tolerant, nodes: nodes, placed: busy).node == "d")
        let small = Placement.choose(Self.pod("z", cpu: "50m"), nodes: nodes, placed: busy)
        #expect(small.node == "a")
        let affinity = Self.pod("w", extra: ["affinity": ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
            "nodeSelectorTerms": [["matchExpressions": [["key": "disk", "operator": "In", "values": ["hdd"]]]]]]]]])
        #expect(Placement.choose(affinity, nodes: [Self.node("a"), Self.node("d", labels: ["disk": "ssd"])], placed: []).node == nil)
    }

    @Test func aDaemonPodGoesOnlyToItsOwnNodeEvenACordonedOne() {
        let set: JSONValue = ["apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": ["name": "agent", "namespace": "default", "uid": "ds-1"]]
        let template: JSONValue = ["metadata": ["labels": ["app": "agent"]], "spec": ["containers": [["name": "c", "image": "i"]]]]
        let pod = DaemonSetController.pod(for: set, template: template, node: "c", hash: "h", generation: 1)
        let nodes = [Self.node("a"), Self.node("b"), Self.node("c", unschedulable: true)]
        #expect(Placement.choose(pod, nodes: nodes, placed: []).node == "c")
        #expect(NodeFit.excluded(pod, by: Self.node("a")) == "node(s) didn't match node selector")
        #expect(DaemonSetController.node(of: pod) == "c")
        #expect(Placement.choose(Self.pod("p"), nodes: [Self.node("c", unschedulable: true)], placed: []).node == nil,
                "an ordinary pod stays off a cordoned node")
        let unreachable: JSONValue = ["key": "node.kubernetes.io/unreachable", "effect": "NoExecute"]
        #expect(NodeFit.untolerated(pod, Self.node("a", taints: [unreachable]), effects: ["NoExecute"]) == nil)
        #expect(NodeFit.untolerated(Self.pod("p"), Self.node("a", taints: [unreachable]), effects: ["NoExecute"]) == unreachable)
    }

    @Test func statefulSetOrdinalsAreParsedStrictly() {
        #expect(StatefulSetController.ordinal(of: "db-0", set: "db") == 0)
        #expect(StatefulSetController.ordinal(of: "db-12", set: "db") == 12)
        for name in ["db-01", "db-x", "dbx-1", "db-", "db--1", "web-1"] {
            #expect(StatefulSetController.ordinal(of: name, set: "db") == nil, "\(name)")
        }
    }

    @Test func replicasOfOneWorkloadSpreadOverNodes() {
        let nodes = [Self.node("a", cpu: "8"), Self.node("b", cpu: "8"), Self.node("c", cpu: "8")]
        var placed: [JSONValue] = []
        for index in 0..<6 {
            let pod = Self.pod("r\(index)", owner: "rs-1")
            let node = Placement.choose(pod, nodes: nodes, placed: placed).node!
            var bound = pod
            bound[path: ["spec", "nodeName"]] = .string(node)
            placed.append(bound)
        }
        let counts = Dictionary(grouping: placed) { $0[path: ["spec", "nodeName"]]!.stringValue! }.mapValues(\.count)
        #expect(counts == ["a": 2, "b": 2, "c": 2])
    }

    @Test func quantitiesParseAsKubernetesWritesThem() {
        #expect(Quantity.milli("100m") == 100)
        #expect(Quantity.milli("1.5") == 1500)
        #expect(Quantity.milli(2) == 2000)
        #expect(Quantity.value("128Mi") == 134_217_728)
        #expect(Quantity.value("1G") == 1_000_000_000)
        #expect(Quantity.value("1e3") == 1000)
        #expect(Quantity.value("lots") == nil)
    }

    @Test func surgeRoundsUpAndUnavailabilityDown() {
        #expect(DeploymentController.resolve("25%", of: 5, roundUp: true) == 2)
        #expect(DeploymentController.resolve("25%", of: 5, roundUp: false) == 1)
        #expect(DeploymentController.resolve(3, of: 5, roundUp: false) == 3)
        let template: JSONValue = ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "v1"]]]]
        var hashed = template
        hashed[path: ["metadata", "labels", "pod-template-hash"]] = "x"
        #expect(DeploymentController.hash(template) == DeploymentController.hash(hashed), "the hash label does not change the hash")
        var changed = template
        changed[path: ["spec", "containers"]] = [["name": "c", "image": "v2"]]
        #expect(DeploymentController.hash(template) != DeploymentController.hash(changed))
    }

    @Test func theReplicaSetControllerDeletesTheLeastUsefulPodsFirst() {
        var pending = Self.pod("pending")
        pending[path: ["status", "phase"]] = "Pending"
        var running = Self.pod("running", node: "a")
        running[path: ["status", "phase"]] = "Running"
        var ready = running
        ready[path: ["metadata", "name"]] = "ready"
        ready[path: ["status", "conditions"]] = [["type": "Ready", "status": "True"]]
        let order = ReplicaSetController.deletionOrder([ready, running, pending]).map(PodFacts.name)
        #expect(order == ["pending", "running", "ready"])
    }

    @Test func createFillsInWhatTheServerOwnsAndUpdateKeepsIt() throws {
        let deployments = ResourceCatalog.find(group: "apps", plural: "deployments")!
        let body: JSONValue = ["metadata": ["generateName": "web-"], "spec": [
            "selector": ["matchLabels": ["app": "web"]],
            "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "nginx"]]]]]]
        let created = try ObjectRules.prepareForCreate(body, resource: deployments, namespace: "default")
        #expect(created[path: ["metadata", "name"]]?.stringValue?.hasPrefix("web-") == true)
        #expect(created[path: ["metadata", "name"]]?.stringValue?.count == 9)
        #expect(created[path: ["metadata", "generation"]] == 1)
        #expect(created[path: ["spec", "replicas"]] == 1)
        #expect(created[path: ["spec", "template", "spec", "restartPolicy"]] == "Always")
        #expect(created["apiVersion"] == "apps/v1")

        var edited = created
        edited[path: ["metadata", "uid"]] = "forged"
        edited[path: ["spec", "replicas"]] = 4
        edited["status"] = ["replicas": 99]
        var stored = created
        stored["status"] = ["replicas": 1]
        let updated = try ObjectRules.prepareForUpdate(edited, old: stored, resource: deployments, subresource: nil)
        #expect(updated[path: ["metadata", "uid"]] == created[path: ["metadata", "uid"]])
        #expect(updated[path: ["metadata", "generation"]] == 2)
        #expect(updated["status"] == ["replicas": 1], "the status subresource owns the status")
        let statusOnly = try ObjectRules.prepareForUpdate(edited, old: stored, resource: deployments, subresource: "status")
        #expect(statusOnly["status"] == ["replicas": 99])
        #expect(statusOnly[path: ["spec", "replicas"]] == 1)

        #expect(throws: APIError.self) {
            _ = try ObjectRules.prepareForCreate(["metadata": ["name": "Web_1"], "spec": body["spec"]!], resource: deployments, namespace: "default")
        }
    }
}
