import Foundation
import Testing
@testable import KubeAPI

/// A fixed clock: every object below was created at 02:00, five minutes before it.
private let now = Tables.parseTimestamp("2026-11-27T02:05:00Z")!
private let created: JSONValue = "2026-11-27T02:00:00Z"

private func row(_ resource: String, _ object: JSONValue, at time: Date = now) -> [JSONValue] {
    Tables.table(resource: resource, objects: [object], now: time, includeObject: "None", listMetadata: [:])[path: ["rows"]]?
        .arrayValue?.first?["cells"]?.arrayValue ?? []
}

private func columns(_ resource: String) -> [JSONValue] {
    Tables.table(resource: resource, objects: [], now: now, includeObject: "None", listMetadata: [:])["columnDefinitions"]?
        .arrayValue ?? []
}

private func pod(phase: String, containers: [JSONValue] = [], initContainers: [JSONValue]? = nil,
                 conditions: [JSONValue] = [], extraMetadata: [String: JSONValue] = [:]) -> JSONValue {
    var metadata: [String: JSONValue] = ["name": "web-1", "namespace": "default", "creationTimestamp": created]
    metadata.merge(extraMetadata) { _, new in new }
    var spec: JSONValue = ["containers": .array(containers.indices.map { ["name": .string("c\($0)"), "image": "nginx"] })]
    var status: JSONValue = ["phase": .string(phase), "containerStatuses": .array(containers), "conditions": .array(conditions)]
    if let initContainers {
        spec["initContainers"] = .array(initContainers.indices.map { ["name": .string("i\($0)"), "image": "busybox"] })
        status["initContainerStatuses"] = .array(initContainers)
    }
    return ["metadata": .object(metadata), "spec": spec, "status": status]
}

private let runningReady: JSONValue = ["ready": true, "restartCount": 0, "state": ["running": ["startedAt": created]]]

@Suite struct HumanDurationTests {
    @Test func followsKubernetesThresholds() {
        let cases: [(TimeInterval, String)] = [
            (-5, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
            (150, "2m30s"), (599, "9m59s"), (600, "10m"), (10 * 60 + 30, "10m"), (179 * 60, "179m"), (180 * 60, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"), (7 * 3600 + 59 * 60, "7h59m"), (8 * 3600 + 30 * 60, "8h"), (47 * 3600, "47h"),
            (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86_400, "8d"), (400 * 86_400, "400d"),
            (730 * 86_400, "2y"), (740 * 86_400, "2y10d"), (9 * 365 * 86_400, "9y"),
        ]
        for (interval, expected) in cases {
            #expect(Tables.humanDuration(interval) == expected, "\(interval)s")
        }
    }

    @Test func agesComeFromCreationTimestamps() {
        #expect(Tables.age(created, now: now) == "5m")
        #expect(Tables.age(nil, now: now) == "<unknown>")
        #expect(Tables.age("not a time", now: now) == "<unknown>")
        #expect(Tables.age("2026-11-27T02:04:59.5+00:00", now: now) == "0s")
        #expect(Tables.age("2026-11-27T03:00:00+01:00", now: now) == "5m")
    }

    @Test func timestampsRoundTrip() {
        let date = Tables.parseTimestamp("2024-02-29T23:59:58Z")!
        #expect(Tables.formatTimestamp(date) == "2024-02-29T23:59:58Z")
        #expect(Tables.formatTimestamp(Tables.parseTimestamp("1969-12-31T00:00:01Z")!) == "1969-12-31T00:00:01Z")
    }
}

@Suite struct PodTableTests {
    @Test func columnsMatchKubernetes() {
        let definitions = columns("pods")
        #expect(definitions.map { $0.string(at: "name") }
            == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"])
        #expect(definitions.map { $0["priority"]?.intValue ?? -1 } == [0, 0, 0, 0, 0, 1, 1, 1, 1])
        #expect(definitions[0]["format"] == "name")
        #expect(definitions[1]["format"] == "")
        #expect(definitions[3]["type"] == "integer")
    }

    @Test func running() {
        let cells = row("pods", pod(phase: "Running", containers: [runningReady]))
        #expect(cells == ["web-1", "1/1", "Running", 0, "5m", "<none>", "<none>", "<none>", "<none>"])
    }

    @Test func pendingWithoutStatusesAndContainerCreating() {
        #expect(row("pods", pod(phase: "Pending"))[2] == "Pending")
        let creating: JSONValue = ["ready": false, "restartCount": 0, "state": ["waiting": ["reason": "ContainerCreating"]]]
        let cells = row("pods", pod(phase: "Pending", containers: [creating]))
        #expect(cells[1] == "0/1")
        #expect(cells[2] == "ContainerCreating")
    }

    @Test func crashLoopBackOffCountsRestarts() {
        let crashing: JSONValue = ["ready": false, "restartCount": 5,
                                   "state": ["waiting": ["reason": "CrashLoopBackOff", "message": "back-off"]]]
        let cells = row("pods", pod(phase: "Running", containers: [runningReady, crashing]))
        #expect(cells[1] == "1/2")
        #expect(cells[2] == "CrashLoopBackOff")
        #expect(cells[3] == 5)
    }

    @Test func completedAndErrorCarryRowConditions() {
        let done: JSONValue = ["ready": false, "restartCount": 0, "state": ["terminated": ["exitCode": 0, "reason": "Completed"]]]
        let table = Tables.table(resource: "pods", objects: [pod(phase: "Succeeded", containers: [done])], now: now,
                                 includeObject: "None", listMetadata: [:])
        let completed = table["rows"]!.arrayValue![0]
        #expect(completed["cells"]?.arrayValue?[2] == "Completed")
        #expect(completed["cells"]?.arrayValue?[1] == "0/1")
        #expect(completed["conditions"] == [["type": "Completed", "status": "True", "reason": "Succeeded",
                                             "message": "The pod has completed successfully."]])

        let failed: JSONValue = ["ready": false, "restartCount": 0, "state": ["terminated": ["exitCode": 1, "reason": "Error"]]]
        #expect(row("pods", pod(phase: "Failed", containers: [failed]))[2] == "Error")
        let killed: JSONValue = ["ready": false, "restartCount": 0, "state": ["terminated": ["exitCode": 137, "signal": 9]]]
        #expect(row("pods", pod(phase: "Failed", containers: [killed]))[2] == "Signal:9")
        let running = Tables.table(resource: "pods", objects: [pod(phase: "Running", containers: [runningReady])], now: now,
                                   includeObject: "None", listMetadata: [:])
        #expect(running["rows"]?.arrayValue?[0]["conditions"] == nil)
    }

    @Test func completedBesideRunningIsRunningOrNotReady() {
        let done: JSONValue = ["ready": false, "restartCount": 0, "state": ["terminated": ["exitCode": 0, "reason": "Completed"]]]
        let ready: JSONValue = ["type": "Ready", "status": "True"]
        #expect(row("pods", pod(phase: "Running", containers: [runningReady, done], conditions: [ready]))[2] == "Running")
        #expect(row("pods", pod(phase: "Running", containers: [runningReady, done]))[2] == "NotReady")
    }

    @Test func terminating() {
        let deleting = pod(phase: "Running", containers: [runningReady],
                           extraMetadata: ["deletionTimestamp": "2026-11-27T02:04:00Z"])
        #expect(row("pods", deleting)[2] == "Terminating")
    }

    @Test func initContainers() {
        let initRunning: JSONValue = ["ready": false, "restartCount": 0, "state": ["running": ["startedAt": created]]]
        let waiting: JSONValue = ["ready": false, "restartCount": 0, "state": ["waiting": ["reason": "PodInitializing"]]]
        #expect(row("pods", pod(phase: "Pending", containers: [waiting], initContainers: [initRunning]))[2] == "Init:0/1")

        let initDone: JSONValue = ["ready": true, "restartCount": 0, "state": ["terminated": ["exitCode": 0, "reason": "Completed"]]]
        #expect(row("pods", pod(phase: "Pending", containers: [waiting], initContainers: [initDone, initRunning]))[2] == "Init:1/2")

        let initCrashing: JSONValue = ["ready": false, "restartCount": 3, "state": ["waiting": ["reason": "CrashLoopBackOff"]]]
        let crashing = row("pods", pod(phase: "Pending", containers: [waiting], initContainers: [initCrashing]))
        #expect(crashing[2] == "Init:CrashLoopBackOff")
        #expect(crashing[3] == 3)

        let initFailed: JSONValue = ["ready": false, "restartCount": 0, "state": ["terminated": ["exitCode": 2]]]
        #expect(row("pods", pod(phase: "Pending", containers: [waiting], initContainers: [initFailed]))[2] == "Init:ExitCode:2")
    }

    @Test func wideCells() {
        var scheduled = pod(phase: "Running", containers: [runningReady], conditions: [["type": "example.com/gate", "status": "True"]])
        scheduled[path: ["spec", "nodeName"]] = "node-a"
        scheduled[path: ["spec", "readinessGates"]] = [["conditionType": "example.com/gate"], ["conditionType": "other"]]
        scheduled[path: ["status", "podIP"]] = "10.1.0.7"
        scheduled[path: ["status", "podIPs"]] = [["ip": "10.1.0.7"]]
        #expect(Array(row("pods", scheduled)[5...]) == ["10.1.0.7", "node-a", "<none>", "1/2"])
    }
}

@Suite struct WorkloadTableTests {
    private let template: JSONValue = ["spec": ["containers": [["name": "web", "image": "nginx:1.19"], ["name": "log", "image": "busybox"]]]]

    @Test func deploymentReadyIsReadyOverDesired() {
        let deployment: JSONValue = [
            "metadata": ["name": "web", "creationTimestamp": created],
            "spec": ["replicas": 3, "selector": ["matchLabels": ["app": "web"]], "template": template],
            "status": ["readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2],
        ]
        #expect(row("deployments", deployment) == ["web", "2/3", 3, 2, "5m", "web,log", "nginx:1.19,busybox", "app=web"])
        #expect(columns("deployments").map { $0.string(at: "name") }
            == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"])
        let fresh: JSONValue = ["metadata": ["name": "new"], "spec": ["replicas": 1]]
        #expect(Array(row("deployments", fresh)[0..<5]) == ["new", "0/1", 0, 0, "<unknown>"])
    }

    @Test func replicaSetsDaemonSetsAndStatefulSets() {
        let replicaSet: JSONValue = [
            "metadata": ["name": "web-abc", "creationTimestamp": created],
            "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "web", "pod-template-hash": "abc"]], "template": template],
            "status": ["replicas": 2, "readyReplicas": 1],
        ]
        #expect(row("replicasets", replicaSet) == ["web-abc", 2, 2, 1, "5m", "web,log", "nginx:1.19,busybox", "app=web,pod-template-hash=abc"])

        let daemonSet: JSONValue = [
            "metadata": ["name": "agent", "creationTimestamp": created],
            "spec": ["selector": [:], "template": ["spec": ["nodeSelector": ["os": "linux", "arch": "amd64"], "containers": [["name": "a", "image": "agent"]]]]],
            "status": ["desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2],
        ]
        #expect(row("daemonsets", daemonSet) == ["agent", 3, 3, 2, 3, 2, "arch=amd64,os=linux", "5m", "a", "agent", "<none>"])

        let statefulSet: JSONValue = ["metadata": ["name": "db", "creationTimestamp": created], "spec": ["replicas": 3, "template": template],
                                      "status": ["readyReplicas": 1]]
        #expect(row("statefulsets", statefulSet) == ["db", "1/3", "5m", "web,log", "nginx:1.19,busybox"])
    }

    @Test func controllerRevisionsAndAutoscalers() {
        let revision: JSONValue = [
            "metadata": ["name": "db-7d9", "creationTimestamp": created,
                         "ownerReferences": [["apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true]]],
            "revision": 2,
        ]
        #expect(row("controllerrevisions", revision) == ["db-7d9", "statefulset.apps/db", 2, "5m"])

        let autoscaler: JSONValue = [
            "metadata": ["name": "web", "creationTimestamp": created],
            "spec": ["scaleTargetRef": ["kind": "Deployment", "name": "web"], "minReplicas": 2, "maxReplicas": 5],
            "status": ["currentReplicas": 2],
        ]
        #expect(row("horizontalpodautoscalers", autoscaler) == ["web", "Deployment/web", "<unknown>/80%", "2", 5, 2, "5m"])
    }
}

@Suite struct ClusterTableTests {
    private func node(labels: JSONValue = [:], ready: String? = "True", unschedulable: Bool = false) -> JSONValue {
        var node: JSONValue = [
            "metadata": ["name": "node-a", "creationTimestamp": created, "labels": labels],
            "status": ["nodeInfo": ["kubeletVersion": "v1.20.2"], "addresses": [["type": "InternalIP", "address": "192.168.1.10"]]],
        ]
        if let ready { node[path: ["status", "conditions"]] = [["type": "MemoryPressure", "status": "False"], ["type": "Ready", "status": .string(ready)]] }
        if unschedulable { node[path: ["spec", "unschedulable"]] = true }
        return node
    }

    @Test func nodeStatus() {
        #expect(row("nodes", node())[1] == "Ready")
        #expect(row("nodes", node(ready: "False"))[1] == "NotReady")
        #expect(row("nodes", node(ready: "Unknown"))[1] == "NotReady")
        #expect(row("nodes", node(ready: nil))[1] == "Unknown")
        #expect(row("nodes", node(unschedulable: true))[1] == "Ready,SchedulingDisabled")
    }

    @Test func nodeRoles() {
        #expect(row("nodes", node())[2] == "<none>")
        let labels: JSONValue = ["node-role.kubernetes.io/master": "", "node-role.kubernetes.io/control-plane": "",
                                 "kubernetes.io/role": "worker", "node-role.kubernetes.io/": "x"]
        #expect(row("nodes", node(labels: labels))[2] == "control-plane,master,worker")
    }

    @Test func nodeWideCells() {
        #expect(row("nodes", node()) == ["node-a", "Ready", "<none>", "5m", "v1.20.2", "192.168.1.10", "<none>",
                                         "<unknown>", "<unknown>", "<unknown>"])
    }

    @Test func namespacesAndLeases() {
        #expect(row("namespaces", ["metadata": ["name": "default", "creationTimestamp": created], "status": ["phase": "Active"]])
            == ["default", "Active", "5m"])
        #expect(row("leases", ["metadata": ["name": "node-a", "creationTimestamp": created], "spec": ["holderIdentity": "node-a"]])
            == ["node-a", "node-a", "5m"])
    }

    @Test func eventsNameTheirObject() {
        let event: JSONValue = [
            "metadata": ["name": "web-1.16b", "creationTimestamp": created],
            "involvedObject": ["kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"],
            "reason": "Pulled", "type": "Normal", "message": " Container image pulled \n",
            "source": ["component": "kubelet", "host": "node-a"],
            "firstTimestamp": "2026-11-27T01:00:00Z", "lastTimestamp": "2026-11-27T02:04:00Z", "count": 4,
        ]
        #expect(row("events", event) == ["60s", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-a",
                                         "Container image pulled", "65m", 4, "web-1.16b"])
        #expect(columns("events").map { $0.string(at: "name") }
            == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"])

        // An events.k8s.io event: eventTime instead of timestamps, no count.
        let modern: JSONValue = ["metadata": ["name": "e"], "involvedObject": ["kind": "Node"], "eventTime": "2026-11-27T02:04:30.123456Z",
                                 "reportingComponent": "scheduler"]
        let cells = row("events", modern)
        #expect(cells[0] == "29s")
        #expect(cells[3] == "node")
        #expect(cells[5] == "scheduler")
        #expect(cells[8] == 1)
    }
}

@Suite struct NetworkAndConfigTableTests {
    @Test func servicePortsAndAddresses() {
        let service: JSONValue = [
            "metadata": ["name": "web", "creationTimestamp": created],
            "spec": ["type": "NodePort", "clusterIP": "10.96.0.12", "selector": ["app": "web"],
                     "ports": [["port": 80, "protocol": "TCP", "nodePort": 30080], ["port": 53, "protocol": "UDP"]]],
        ]
        #expect(row("services", service) == ["web", "NodePort", "10.96.0.12", "<none>", "80:30080/TCP,53/UDP", "5m", "app=web"])

        let balancer: JSONValue = ["metadata": ["name": "lb"], "spec": ["type": "LoadBalancer", "clusterIP": "10.96.0.13", "ports": [["port": 443]]]]
        #expect(Array(row("services", balancer)[1...4]) == ["LoadBalancer", "10.96.0.13", "<pending>", "443/TCP"])
        let headless: JSONValue = ["metadata": ["name": "db"], "spec": ["clusterIP": "None"]]
        #expect(Array(row("services", headless)[1...4]) == ["ClusterIP", "None", "<none>", "<none>"])
    }

    @Test func endpointsShowThreeAndCountTheRest() {
        let endpoints: JSONValue = [
            "metadata": ["name": "web", "creationTimestamp": created],
            "subsets": [["addresses": [["ip": "10.1.0.1"], ["ip": "10.1.0.2"], ["ip": "fd00::3"]],
                         "ports": [["port": 80], ["port": 443]]]],
        ]
        #expect(row("endpoints", endpoints) == ["web", "10.1.0.1:80,10.1.0.2:80,[fd00::3]:80 + 3 more...", "5m"])
        #expect(row("endpoints", ["metadata": ["name": "none"]])[1] == "<none>")
        #expect(row("endpoints", ["metadata": ["name": "bare"], "subsets": [["addresses": [["ip": "10.1.0.9"]]]]])[1] == "10.1.0.9")
    }

    @Test func configMapsAndSecretsCountData() {
        #expect(row("configmaps", ["metadata": ["name": "cfg", "creationTimestamp": created], "data": ["a": "1", "b": "2"], "binaryData": ["c": "AA=="]])
            == ["cfg", 3, "5m"])
        #expect(row("secrets", ["metadata": ["name": "token", "creationTimestamp": created], "type": "kubernetes.io/service-account-token",
                                "data": ["token": "eA=="]])
            == ["token", "kubernetes.io/service-account-token", 1, "5m"])
    }

    @Test func otherResourcesGetTheDefaultTable() {
        let definitions = columns("widgets")
        #expect(definitions.map { $0.string(at: "name") } == ["Name", "Created At"])
        #expect(definitions[1]["type"] == "date")
        #expect(row("widgets", ["metadata": ["name": "w", "creationTimestamp": "2026-11-27T03:00:00+01:00"]])
            == ["w", "2026-11-27T02:00:00Z"])
    }
}

@Suite struct TableEnvelopeTests {
    private let object: JSONValue = [
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": ["name": "cfg", "namespace": "default", "resourceVersion": "42", "creationTimestamp": created],
        "data": ["a": "1"],
    ]

    @Test func envelopeCarriesListMetadata() {
        let table = Tables.table(resource: "configmaps", objects: [object], now: now, includeObject: "Metadata",
                                 listMetadata: ["resourceVersion": "42", "continue": "abc"])
        #expect(table["kind"] == "Table")
        #expect(table["apiVersion"] == "meta.k8s.io/v1")
        #expect(table["metadata"] == ["resourceVersion": "42", "continue": "abc"])
        #expect(table["rows"]?.arrayValue?.count == 1)
    }

    @Test func includeObjectVariants() {
        func rowObject(_ include: String) -> JSONValue? {
            Tables.table(resource: "configmaps", objects: [object], now: now, includeObject: include, listMetadata: [:])["rows"]?
                .arrayValue?.first?["object"]
        }
        #expect(rowObject("None") == nil)
        #expect(rowObject("Object") == object)
        #expect(rowObject("Metadata") == ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]!])
    }

    @Test func emptyListHasColumnsAndNoRows() {
        let table = Tables.table(resource: "pods", objects: [], now: now, includeObject: "Metadata", listMetadata: ["resourceVersion": "7"])
        #expect(table["rows"] == [])
        #expect(table["columnDefinitions"]?.arrayValue?.count == 9)
    }
}

private extension JSONValue {
    func string(at key: String) -> String { self[key]?.stringValue ?? "" }
}
