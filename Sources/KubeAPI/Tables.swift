import Foundation

/// Server-side printing: the `meta.k8s.io/v1` Table kube-apiserver answers with when kubectl
/// asks for `application/json;as=Table;v=v1;g=meta.k8s.io`. kubectl only lays the cells out, so
/// every column and every cell here is computed as kube-apiserver 1.20's printers
/// (pkg/printers/internalversion) compute them. As there, the wide (priority 1) cells are always
/// present; kubectl hides them unless asked for `-o wide`.
public enum Tables {
    /// A Table of `objects` (stored JSON objects of the plural `resource`).
    /// - Parameters:
    ///   - includeObject: "None", "Metadata" (the default) or "Object": what each row carries
    ///     besides its cells. Anything else is treated as "Metadata".
    ///   - listMetadata: the Table's ListMeta (`resourceVersion`, `continue`, ...).
    public static func table(resource: String, objects: [JSONValue], now: Date, includeObject: String = "Metadata",
                             listMetadata: JSONValue = [:]) -> JSONValue {
        let printer = Printer.for(resource)
        let rows: [JSONValue] = objects.map { object in
            var row: JSONValue = ["cells": .array(printer.cells(object, now))]
            if resource == "pods", let conditions = podRowConditions(object) { row["conditions"] = conditions }
            switch includeObject {
            case "None":
                break
            case "Object":
                row["object"] = object
            default:
                row["object"] = [
                    "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": object["metadata"] ?? [:],
                ]
            }
            return row
        }
        return [
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMetadata,
            "columnDefinitions": .array(printer.columns.map(\.json)), "rows": .array(rows),
        ]
    }

    // MARK: Durations and timestamps

    /// k8s.io/apimachinery/pkg/util/duration.HumanDuration: about two significant figures,
    /// "0s" for a clock up to a second behind, "<invalid>" further back.
    static func humanDuration(_ interval: TimeInterval) -> String {
        // Go's Duration is whole nanoseconds and its divisions truncate toward zero.
        let limit = Double(Int64.max) / 1e9
        let nanoseconds = Int64((max(-limit, min(limit, interval)) * 1e9).rounded(.towardZero))
        let seconds = nanoseconds / 1_000_000_000
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 60 * 2 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 {
            let rest = seconds % 60
            return rest == 0 ? "\(minutes)m" : "\(minutes)m\(rest)s"
        }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = seconds / 3600
        if hours < 8 {
            let rest = minutes % 60
            return rest == 0 ? "\(hours)h" : "\(hours)h\(rest)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let rest = hours % 24
            return rest == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(rest)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let rest = (hours / 24) % 365
            return rest == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(rest)d"
        }
        return "\(hours / 24 / 365)y"
    }

    /// translateTimestampSince: the age of an RFC 3339 timestamp, "<unknown>" without one.
    static func age(_ timestamp: JSONValue?, now: Date) -> String {
        guard let text = timestamp?.stringValue, let date = parseTimestamp(text) else { return "<unknown>" }
        return humanDuration(now.timeIntervalSince(date))
    }

    /// RFC 3339 with optional fractional seconds (metav1.MicroTime has them), parsed by hand:
    /// the Foundation formatters are neither Sendable nor cheap to make per cell.
    static func parseTimestamp(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction = 0.0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            if index == start { return nil }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6) else { return nil }
            offset = (hours * 60 + minutes) * 60 * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Go's `t.UTC().Format(time.RFC3339)`, to the second.
    static func formatTimestamp(_ date: Date) -> String {
        let total = Int(date.timeIntervalSince1970.rounded(.down))
        let days = total >= 0 ? total / 86_400 : -((-total + 86_399) / 86_400)
        let secondOfDay = total - days * 86_400
        let (year, month, day) = civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(yearText)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))Z"
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    // MARK: Shared cell formats

    /// Succeeded and failed pods carry a Completed condition on their row.
    private static func podRowConditions(_ pod: JSONValue) -> JSONValue? {
        switch pod.string(at: "status", "phase") {
        case "Succeeded":
            return [["type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."]]
        case "Failed":
            return [["type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."]]
        default:
            return nil
        }
    }

    /// layoutContainerCells: names and images, comma-joined.
    fileprivate static func containerCells(_ podSpec: JSONValue?) -> [JSONValue] {
        let containers = podSpec?.array(at: "containers") ?? []
        return [
            .string(containers.map { $0.string(at: "name") }.joined(separator: ",")),
            .string(containers.map { $0.string(at: "image") }.joined(separator: ",")),
        ]
    }

    /// labels.FormatLabels: "k=v" sorted by key, "<none>" when empty.
    fileprivate static func formatLabels(_ labels: JSONValue?) -> String {
        let pairs = labels?.objectValue ?? [:]
        if pairs.isEmpty { return "<none>" }
        return pairs.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { "\($0)=\(pairs[$0]?.stringValue ?? "")" }.joined(separator: ",")
    }

    /// metav1.FormatLabelSelector: the canonical selector, "<none>" when it selects everything
    /// (or is absent), "<error>" when it cannot be converted.
    fileprivate static func formatLabelSelector(_ selector: JSONValue?) -> String {
        guard let parsed = try? LabelSelector(json: selector ?? .null) else { return "<error>" }
        let text = parsed.description
        return text.isEmpty ? "<none>" : text
    }
}

// MARK: - Columns

/// One TableColumnDefinition.
struct TableColumn: Sendable {
    var name: String
    var type = "string"
    var format = ""
    var description: String
    /// 1 for the columns only `-o wide` shows.
    var priority: Int64 = 0

    var json: JSONValue {
        ["name": .string(name), "type": .string(type), "format": .string(format),
         "description": .string(description), "priority": .int(priority)]
    }

    static let name = TableColumn(
        name: "Name", format: "name",
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names")
    static let age = TableColumn(
        name: "Age",
        description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
    static let containers = TableColumn(name: "Containers", description: "Names of each container in the template.", priority: 1)
    static let images = TableColumn(name: "Images", description: "Images referenced by each container in the template.", priority: 1)

    static func text(_ name: String, _ description: String, wide: Bool = false) -> TableColumn {
        TableColumn(name: name, description: description, priority: wide ? 1 : 0)
    }

    static func integer(_ name: String, _ description: String) -> TableColumn {
        TableColumn(name: name, type: "integer", description: description)
    }
}

// MARK: - Printers

/// The columns of one resource and how an object fills them. Where the Go printers declare a
/// column "string" but put an int64 in it (Up-to-date, Data, Count, ...), so does this: kubectl
/// prints cells by their JSON type.
private struct Printer: Sendable {
    var columns: [TableColumn]
    var cells: @Sendable (JSONValue, Date) -> [JSONValue]

    static func `for`(_ resource: String) -> Printer {
        switch resource {
        case "pods": return pods
        case "deployments": return deployments
        case "replicasets": return replicaSets
        case "daemonsets": return daemonSets
        case "statefulsets": return statefulSets
        case "nodes": return nodes
        case "namespaces": return namespaces
        case "services": return services
        case "endpoints": return endpoints
        case "configmaps": return configMaps
        case "secrets": return secrets
        case "events": return events
        case "controllerrevisions": return controllerRevisions
        case "leases": return leases
        case "horizontalpodautoscalers": return horizontalPodAutoscalers
        case "persistentvolumeclaims": return persistentVolumeClaims
        default: return fallback
        }
    }

    /// The default table convertor of resources without printers: Name and Created At.
    static let fallback = Printer(
        columns: [.name, TableColumn(name: "Created At", type: "date", description: TableColumn.age.description)],
        cells: { object, _ in
            let created = object[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(Tables.parseTimestamp)
            return [.string(object.string(at: "metadata", "name")),
                    .string(created.map(Tables.formatTimestamp) ?? "0001-01-01T00:00:00Z")]
        })

    // MARK: Pods

    static let pods = Printer(
        columns: [
            .name,
            .text("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            .text("Status", "The aggregate status of the containers in this pod."),
            .integer("Restarts", "The number of times the containers in this pod have been restarted."),
            .age,
            .text("IP", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", wide: true),
            .text("Node", "NodeName is a request to schedule this pod onto a specific node.", wide: true),
            .text("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.", wide: true),
            .text("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", wide: true),
        ],
        cells: { pod, now in
            let status = podStatus(pod)
            let ip = pod[path: ["status", "podIPs"]]?.arrayValue?.first?.string(at: "ip") ?? pod.string(at: "status", "podIP")
            let gates = pod.array(at: "spec", "readinessGates")
            var readinessGates = "<none>"
            if !gates.isEmpty {
                let conditions = pod.array(at: "status", "conditions")
                // The first condition of a gate's type decides it.
                let passed = gates.filter { gate in
                    conditions.first { $0.string(at: "type") == gate.string(at: "conditionType") }?.string(at: "status") == "True"
                }.count
                readinessGates = "\(passed)/\(gates.count)"
            }
            return [
                .string(pod.string(at: "metadata", "name")),
                .string("\(status.ready)/\(pod.array(at: "spec", "containers").count)"),
                .string(status.reason),
                .int(status.restarts),
                .string(Tables.age(pod[path: ["metadata", "creationTimestamp"]], now: now)),
                .string(orNone(ip)),
                .string(orNone(pod.string(at: "spec", "nodeName"))),
                .string(orNone(pod.string(at: "status", "nominatedNodeName"))),
                .string(readinessGates),
            ]
        })

    /// The STATUS, READY count and RESTARTS of printPod. The first init container that has not
    /// succeeded explains the pod; otherwise the last container with something to say does,
    /// except that a Completed container beside a running one leaves the pod Running (or
    /// NotReady, if the pod is not Ready).
    static func podStatus(_ pod: JSONValue) -> (reason: String, ready: Int, restarts: Int64) {
        var reason = pod.string(at: "status", "phase")
        let statusReason = pod.string(at: "status", "reason")
        if !statusReason.isEmpty { reason = statusReason }
        var restarts: Int64 = 0
        var ready = 0

        var initializing = false
        let initCount = pod.array(at: "spec", "initContainers").count
        for (index, container) in pod.array(at: "status", "initContainerStatuses").enumerated() {
            restarts += container.int(at: "restartCount")
            let terminated = container.present(at: "state", "terminated")
            let waitingReason = container.string(at: "state", "waiting", "reason")
            if let terminated, terminated.int(at: "exitCode") == 0 { continue }
            if let terminated {
                let why = terminated.string(at: "reason")
                if !why.isEmpty {
                    reason = "Init:" + why
                } else if terminated.int(at: "signal") != 0 {
                    reason = "Init:Signal:\(terminated.int(at: "signal"))"
                } else {
                    reason = "Init:ExitCode:\(terminated.int(at: "exitCode"))"
                }
            } else if container.present(at: "state", "waiting") != nil, !waitingReason.isEmpty, waitingReason != "PodInitializing" {
                reason = "Init:" + waitingReason
            } else {
                reason = "Init:\(index)/\(initCount)"
            }
            initializing = true
            break
        }

        if !initializing {
            restarts = 0
            var hasRunning = false
            for container in pod.array(at: "status", "containerStatuses").reversed() {
                restarts += container.int(at: "restartCount")
                let waitingReason = container.string(at: "state", "waiting", "reason")
                let terminated = container.present(at: "state", "terminated")
                if container.present(at: "state", "waiting") != nil, !waitingReason.isEmpty {
                    reason = waitingReason
                } else if let terminated, !terminated.string(at: "reason").isEmpty {
                    reason = terminated.string(at: "reason")
                } else if let terminated {
                    let signal = terminated.int(at: "signal")
                    reason = signal != 0 ? "Signal:\(signal)" : "ExitCode:\(terminated.int(at: "exitCode"))"
                } else if container[path: ["ready"]]?.boolValue == true, container.present(at: "state", "running") != nil {
                    hasRunning = true
                    ready += 1
                }
            }
            if reason == "Completed" && hasRunning {
                let podReady = pod.array(at: "status", "conditions").contains {
                    $0.string(at: "type") == "Ready" && $0.string(at: "status") == "True"
                }
                reason = podReady ? "Running" : "NotReady"
            }
        }

        if pod.present(at: "metadata", "deletionTimestamp") != nil {
            // A pod on a lost node cannot confirm its termination.
            reason = statusReason == "NodeLost" ? "Unknown" : "Terminating"
        }
        return (reason, ready, restarts)
    }

    // MARK: Workloads

    static let deployments = Printer(
        columns: [
            .name,
            .text("Ready", "Number of the pod with ready state"),
            .text("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            .text("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            .age, .containers, .images,
            .text("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", wide: true),
        ],
        cells: { deployment, now in
            let selector = (try? LabelSelector(json: deployment[path: ["spec", "selector"]] ?? .null))?.description ?? "<error>"
            return [
                .string(deployment.string(at: "metadata", "name")),
                .string("\(deployment.int(at: "status", "readyReplicas"))/\(deployment.int(at: "spec", "replicas", default: 1))"),
                .int(deployment.int(at: "status", "updatedReplicas")),
                .int(deployment.int(at: "status", "availableReplicas")),
                .string(Tables.age(deployment[path: ["metadata", "creationTimestamp"]], now: now)),
            ] + Tables.containerCells(deployment[path: ["spec", "template", "spec"]]) + [.string(selector)]
        })

    static let replicaSets = Printer(
        columns: [
            .name,
            .integer("Desired", "Replicas is the number of desired replicas."),
            .integer("Current", "Replicas is the most recently oberved number of replicas."),
            .integer("Ready", "The number of ready replicas for this replica set."),
            .age, .containers, .images,
            .text("Selector", "Selector is a label query over pods that should match the replica count.", wide: true),
        ],
        cells: { replicaSet, now in
            [
                .string(replicaSet.string(at: "metadata", "name")),
                .int(replicaSet.int(at: "spec", "replicas", default: 1)),
                .int(replicaSet.int(at: "status", "replicas")),
                .int(replicaSet.int(at: "status", "readyReplicas")),
                .string(Tables.age(replicaSet[path: ["metadata", "creationTimestamp"]], now: now)),
            ] + Tables.containerCells(replicaSet[path: ["spec", "template", "spec"]])
                + [.string(Tables.formatLabelSelector(replicaSet[path: ["spec", "selector"]]))]
        })

    static let daemonSets = Printer(
        columns: [
            .name,
            .integer("Desired", "The total number of nodes that should be running the daemon pod."),
            .integer("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
            .integer("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
            .integer("Up-to-date", "The total number of nodes that are running updated daemon pod"),
            .integer("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
            .text("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
            .age, .containers, .images,
            .text("Selector", "A label query over pods that are managed by the daemon set.", wide: true),
        ],
        cells: { daemonSet, now in
            [
                .string(daemonSet.string(at: "metadata", "name")),
                .int(daemonSet.int(at: "status", "desiredNumberScheduled")),
                .int(daemonSet.int(at: "status", "currentNumberScheduled")),
                .int(daemonSet.int(at: "status", "numberReady")),
                .int(daemonSet.int(at: "status", "updatedNumberScheduled")),
                .int(daemonSet.int(at: "status", "numberAvailable")),
                .string(Tables.formatLabels(daemonSet[path: ["spec", "template", "spec", "nodeSelector"]])),
                .string(Tables.age(daemonSet[path: ["metadata", "creationTimestamp"]], now: now)),
            ] + Tables.containerCells(daemonSet[path: ["spec", "template", "spec"]])
                + [.string(Tables.formatLabelSelector(daemonSet[path: ["spec", "selector"]]))]
        })

    static let statefulSets = Printer(
        columns: [.name, .text("Ready", "Number of the pod with ready state"), .age, .containers, .images],
        cells: { statefulSet, now in
            [
                .string(statefulSet.string(at: "metadata", "name")),
                .string("\(statefulSet.int(at: "status", "readyReplicas"))/\(statefulSet.int(at: "spec", "replicas", default: 1))"),
                .string(Tables.age(statefulSet[path: ["metadata", "creationTimestamp"]], now: now)),
            ] + Tables.containerCells(statefulSet[path: ["spec", "template", "spec"]])
        })

    static let controllerRevisions = Printer(
        columns: [
            .name,
            .text("Controller", "Controller of the object"),
            .text("Revision", "Revision indicates the revision of the state represented by Data."),
            .age,
        ],
        cells: { revision, now in
            // The owner marked controller, as "kind.group/name" in lower case.
            var controller = "<none>"
            if let owner = revision.array(at: "metadata", "ownerReferences").first(where: { $0[path: ["controller"]]?.boolValue == true }) {
                let apiVersion = owner.string(at: "apiVersion")
                let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
                let kind = owner.string(at: "kind")
                let groupKind = group.isEmpty ? kind : "\(kind).\(group)"
                controller = groupKind.isEmpty ? owner.string(at: "name") : groupKind.lowercased() + "/" + owner.string(at: "name")
            }
            return [
                .string(revision.string(at: "metadata", "name")),
                .string(controller),
                .int(revision.int(at: "revision")),
                .string(Tables.age(revision[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    static let horizontalPodAutoscalers = Printer(
        columns: [
            .name,
            .text("Reference", "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource."),
            .text("Targets", "metrics contains the specifications for which to use to calculate the desired replica count."),
            .text("MinPods", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
            .text("MaxPods", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
            .text("Replicas", "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler."),
            .age,
        ],
        cells: { autoscaler, now in
            // An autoscaling/v1 object converts to one CPU utilization metric, 80% when unset.
            let target = autoscaler.int(at: "spec", "targetCPUUtilizationPercentage", default: 80)
            let current = autoscaler.present(at: "status", "currentCPUUtilizationPercentage").map { "\($0.intValue ?? 0)%" } ?? "<unknown>"
            // autoscaling/v1 defaults minReplicas to 1 whenever an object is read.
            let minPods = "\(autoscaler.int(at: "spec", "minReplicas", default: 1))"
            return [
                .string(autoscaler.string(at: "metadata", "name")),
                .string("\(autoscaler.string(at: "spec", "scaleTargetRef", "kind"))/\(autoscaler.string(at: "spec", "scaleTargetRef", "name"))"),
                .string("\(current)/\(target)%"),
                .string(minPods),
                .int(autoscaler.int(at: "spec", "maxReplicas")),
                .int(autoscaler.int(at: "status", "currentReplicas")),
                .string(Tables.age(autoscaler[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    // MARK: Cluster

    static let nodes = Printer(
        columns: [
            .name,
            .text("Status", "The status of the node"),
            .text("Roles", "The roles of the node"),
            .age,
            .text("Version", "Kubelet Version reported by the node."),
            .text("Internal-IP", "List of addresses reachable to the node.", wide: true),
            .text("External-IP", "List of addresses reachable to the node.", wide: true),
            .text("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", wide: true),
            .text("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", wide: true),
            .text("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. docker://1.5.0).", wide: true),
        ],
        cells: { node, now in
            var status: [String] = []
            // The last Ready condition wins, as the Go map of conditions by type does.
            if let ready = node.array(at: "status", "conditions").last(where: { $0.string(at: "type") == "Ready" }) {
                status.append(ready.string(at: "status") == "True" ? "Ready" : "NotReady")
            } else {
                status.append("Unknown")
            }
            if node[path: ["spec", "unschedulable"]]?.boolValue == true { status.append("SchedulingDisabled") }
            let roles = nodeRoles(node)
            let addresses = node.array(at: "status", "addresses")
            func address(_ type: String) -> String {
                addresses.first { $0.string(at: "type") == type }?.string(at: "address") ?? "<none>"
            }
            func unknownIfEmpty(_ value: String) -> String { value.isEmpty ? "<unknown>" : value }
            return [
                .string(node.string(at: "metadata", "name")),
                .string(status.joined(separator: ",")),
                .string(roles.isEmpty ? "<none>" : roles.joined(separator: ",")),
                .string(Tables.age(node[path: ["metadata", "creationTimestamp"]], now: now)),
                .string(node.string(at: "status", "nodeInfo", "kubeletVersion")),
                .string(address("InternalIP")),
                .string(address("ExternalIP")),
                .string(unknownIfEmpty(node.string(at: "status", "nodeInfo", "osImage"))),
                .string(unknownIfEmpty(node.string(at: "status", "nodeInfo", "kernelVersion"))),
                .string(unknownIfEmpty(node.string(at: "status", "nodeInfo", "containerRuntimeVersion"))),
            ]
        })

    /// From `node-role.kubernetes.io/<role>` labels (any value) and a non-empty
    /// `kubernetes.io/role`, sorted and without repeats.
    static func nodeRoles(_ node: JSONValue) -> [String] {
        var roles = Set<String>()
        for (key, value) in node.object(at: "metadata", "labels") {
            if key.hasPrefix("node-role.kubernetes.io/") {
                let role = String(key.dropFirst("node-role.kubernetes.io/".count))
                if !role.isEmpty { roles.insert(role) }
            } else if key == "kubernetes.io/role", let role = value.stringValue, !role.isEmpty {
                roles.insert(role)
            }
        }
        return roles.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static let namespaces = Printer(
        columns: [.name, .text("Status", "The status of the namespace"), .age],
        cells: { namespace, now in
            [
                .string(namespace.string(at: "metadata", "name")),
                .string(namespace.string(at: "status", "phase")),
                .string(Tables.age(namespace[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    static let leases = Printer(
        columns: [.name, .text("Holder", "holderIdentity contains the identity of the holder of a current lease."), .age],
        cells: { lease, now in
            [
                .string(lease.string(at: "metadata", "name")),
                .string(lease.string(at: "spec", "holderIdentity")),
                .string(Tables.age(lease[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    static let events = Printer(
        columns: [
            .text("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            .text("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
            .text("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
            .text("Object", "The object that this event is about."),
            .text("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].", wide: true),
            .text("Source", "The component reporting this event. Should be a short machine understandable string.", wide: true),
            .text("Message", "A human-readable description of the status of this operation."),
            .text("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", wide: true),
            .text("Count", "The number of times this event has occurred.", wide: true),
            TableColumn(name: "Name", format: "name", description: TableColumn.name.description, priority: 1),
        ],
        cells: { event, now in
            // Events written through events.k8s.io carry eventTime and series instead of the
            // first and last timestamps and count.
            var firstSeen = Tables.age(event.present(at: "firstTimestamp"), now: now)
            if event.present(at: "firstTimestamp") == nil { firstSeen = Tables.age(event.present(at: "eventTime"), now: now) }
            var lastSeen = event.present(at: "lastTimestamp") == nil ? firstSeen : Tables.age(event.present(at: "lastTimestamp"), now: now)
            var count = event.int(at: "count")
            if event.present(at: "series") != nil {
                lastSeen = Tables.age(event.present(at: "series", "lastObservedTime"), now: now)
                count = event.int(at: "series", "count")
            } else if count == 0 {
                count = 1
            }
            let kind = event.string(at: "involvedObject", "kind").lowercased()
            let name = event.string(at: "involvedObject", "name")
            let component = event.string(at: "source", "component")
            let host = event.string(at: "source", "host")
            let source = [component.isEmpty ? event.string(at: "reportingComponent") : component,
                          host.isEmpty ? event.string(at: "reportingInstance") : host]
            return [
                .string(lastSeen),
                .string(event.string(at: "type")),
                .string(event.string(at: "reason")),
                .string(name.isEmpty ? kind : "\(kind)/\(name)"),
                .string(event.string(at: "involvedObject", "fieldPath")),
                .string(source[1].isEmpty ? source[0] : "\(source[0]), \(source[1])"),
                .string(event.string(at: "message").trimmingCharacters(in: .whitespacesAndNewlines)),
                .string(firstSeen),
                .int(count),
                .string(event.string(at: "metadata", "name")),
            ]
        })

    // MARK: Configuration and networking

    static let configMaps = Printer(
        columns: [.name, .text("Data", "Data contains the configuration data."), .age],
        cells: { configMap, now in
            [
                .string(configMap.string(at: "metadata", "name")),
                .int(Int64(configMap.object(at: "data").count + configMap.object(at: "binaryData").count)),
                .string(Tables.age(configMap[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    static let secrets = Printer(
        columns: [
            .name,
            .text("Type", "Used to facilitate programmatic handling of secret data."),
            .text("Data", "Data contains the secret data."),
            .age,
        ],
        cells: { secret, now in
            let type = secret.string(at: "type")
            return [
                .string(secret.string(at: "metadata", "name")),
                .string(type.isEmpty ? "Opaque" : type),
                .int(Int64(secret.object(at: "data").count)),
                .string(Tables.age(secret[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    static let services = Printer(
        columns: [
            .name,
            .text("Type", "type determines how the Service is exposed."),
            .text("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly by the master."),
            .text("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
            .text("Port(s)", "The list of ports that are exposed by this service."),
            .age,
            .text("Selector", "Route service traffic to pods with label keys and values matching this selector.", wide: true),
        ],
        cells: { service, now in
            let type = service.string(at: "spec", "type").isEmpty ? "ClusterIP" : service.string(at: "spec", "type")
            let clusterIP = service.string(at: "spec", "clusterIP")
            let ports = service.array(at: "spec", "ports").map { port -> String in
                let proto = port.string(at: "protocol").isEmpty ? "TCP" : port.string(at: "protocol")
                let nodePort = port.int(at: "nodePort")
                return nodePort > 0 ? "\(port.int(at: "port")):\(nodePort)/\(proto)" : "\(port.int(at: "port"))/\(proto)"
            }.joined(separator: ",")
            return [
                .string(service.string(at: "metadata", "name")),
                .string(type),
                .string(orNone(clusterIP)),
                .string(serviceExternalIP(service, type: type)),
                .string(orNone(ports)),
                .string(Tables.age(service[path: ["metadata", "creationTimestamp"]], now: now)),
                .string(Tables.formatLabels(service[path: ["spec", "selector"]])),
            ]
        })

    static func serviceExternalIP(_ service: JSONValue, type: String) -> String {
        let externalIPs = service.array(at: "spec", "externalIPs").compactMap(\.stringValue)
        switch type {
        case "ClusterIP", "NodePort":
            return externalIPs.isEmpty ? "<none>" : externalIPs.joined(separator: ",")
        case "LoadBalancer":
            // Ingress points sorted and without repeats; the server prints them whole (wide).
            let ingress = Set(service.array(at: "status", "loadBalancer", "ingress").compactMap { point -> String? in
                let ip = point.string(at: "ip")
                let hostname = point.string(at: "hostname")
                return !ip.isEmpty ? ip : (!hostname.isEmpty ? hostname : nil)
            }).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            if !externalIPs.isEmpty { return (ingress + externalIPs).joined(separator: ",") }
            return ingress.isEmpty ? "<pending>" : ingress.joined(separator: ",")
        case "ExternalName":
            return service.string(at: "spec", "externalName")
        default:
            return "<unknown>"
        }
    }

    static let endpoints = Printer(
        columns: [.name, .text("Endpoints", "The set of all endpoints is the union of all subsets."), .age],
        cells: { endpoints, now in
            [
                .string(endpoints.string(at: "metadata", "name")),
                .string(formatEndpoints(endpoints)),
                .string(Tables.age(endpoints[path: ["metadata", "creationTimestamp"]], now: now)),
            ]
        })

    /// formatEndpoints: "ip:port" for each port of each address (a bare ip for a subset without
    /// ports), the first three shown and the rest counted.
    static func formatEndpoints(_ endpoints: JSONValue) -> String {
        let subsets = endpoints.array(at: "subsets")
        if subsets.isEmpty { return "<none>" }
        let shown = 3
        var list: [String] = []
        var count = 0
        for subset in subsets {
            let addresses = subset.array(at: "addresses").map { $0.string(at: "ip") }
            let ports = subset.array(at: "ports")
            let entries = ports.isEmpty
                ? addresses
                : ports.flatMap { port in addresses.map { joinHostPort($0, port.int(at: "port")) } }
            for entry in entries {
                if list.count < shown { list.append(entry) }
                count += 1
            }
        }
        let joined = list.joined(separator: ",")
        return count > shown ? "\(joined) + \(count - shown) more..." : joined
    }

    /// net.JoinHostPort: IPv6 addresses in brackets.
    static func joinHostPort(_ host: String, _ port: Int64) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static let persistentVolumeClaims = Printer(
        columns: [
            .name,
            .text("Status", "Phase represents the current phase of PersistentVolumeClaim."),
            .text("Volume", "VolumeName is the binding reference to the PersistentVolume backing this claim."),
            .text("Capacity", "Represents the actual resources of the underlying volume."),
            .text("Access Modes", "AccessModes contains the actual access modes the volume backing the PVC has."),
            .text("StorageClass", "StorageClass of the pvc"),
            .age,
            .text("VolumeMode", "volumeMode defines what type of volume is required by the claim.", wide: true),
        ],
        cells: { claim, now in
            let phase = claim.present(at: "metadata", "deletionTimestamp") != nil ? "Terminating" : claim.string(at: "status", "phase")
            let volume = claim.string(at: "spec", "volumeName")
            var capacity = ""
            var accessModes = ""
            if !volume.isEmpty {
                capacity = claim.string(at: "status", "capacity", "storage")
                let modes = Set(claim.array(at: "status", "accessModes").compactMap(\.stringValue))
                accessModes = [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX")]
                    .filter { modes.contains($0.0) }.map(\.1).joined(separator: ",")
            }
            let storageClass = claim[path: ["metadata", "annotations", "volume.beta.kubernetes.io/storage-class"]]?.stringValue
                ?? claim.string(at: "spec", "storageClassName")
            let volumeMode = claim.string(at: "spec", "volumeMode")
            return [
                .string(claim.string(at: "metadata", "name")),
                .string(phase),
                .string(volume),
                .string(capacity),
                .string(accessModes),
                .string(storageClass),
                .string(Tables.age(claim[path: ["metadata", "creationTimestamp"]], now: now)),
                .string(volumeMode.isEmpty ? "<unset>" : volumeMode),
            ]
        })

    private static func orNone(_ value: String) -> String { value.isEmpty ? "<none>" : value }
}

// MARK: - Reading stored objects

/// Lookups that read an absent or null field as Go reads an unset struct field: "", 0, none.
fileprivate extension JSONValue {
    func present(at path: String...) -> JSONValue? {
        guard let value = self[path: path], value != .null else { return nil }
        return value
    }

    func string(at path: String...) -> String { self[path: path]?.stringValue ?? "" }

    func int(at path: String..., default fallback: Int64 = 0) -> Int64 {
        guard let value = self[path: path], value != .null else { return fallback }
        return value.intValue ?? fallback
    }

    func array(at path: String...) -> [JSONValue] { self[path: path]?.arrayValue ?? [] }

    func object(at path: String...) -> [String: JSONValue] { self[path: path]?.objectValue ?? [:] }
}
