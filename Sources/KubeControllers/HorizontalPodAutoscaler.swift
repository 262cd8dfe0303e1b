import Foundation
import KubeAPI
import Synchronization

/// The autoscaler's timing (kube-controller-manager's flags).
public struct AutoscalerOptions: Sendable {
    /// How often every autoscaler is evaluated (`--horizontal-pod-autoscaler-sync-period`).
    public var syncPeriod: Duration = .seconds(15)
    /// How long a lower recommendation must hold before the target shrinks
    /// (`--horizontal-pod-autoscaler-downscale-stabilization`).
    public var downscaleStabilization: Duration = .seconds(300)

    public init() {}
}

/// autoscaling/v1 HorizontalPodAutoscalers: every sync period, each target's replicas are set to
/// `ceil(current × utilization / target)` within min and max (no change within 10% of the
/// target), utilization being the pods' reported CPU use over their CPU requests; a lower
/// number waits for the downscale stabilization window, as the highest recommendation in it.
///
/// The CPU use comes from each pod's `metrics.kube-swift.io/cpu-usage` annotation, a quantity
/// ("250m"): there is no metrics-server here, so whatever measures load (a test, a load
/// generator) reports it there. Pods without it, or without a CPU request, are left out, as
/// the real controller leaves out pods without metrics.
final class HorizontalPodAutoscaler: Sendable {
    static let resource = ResourceCatalog.find(group: "autoscaling", plural: "horizontalpodautoscalers")!
    let store: ObjectStore
    let autoscalers: Informer
    let pods: Informer
    let options: AutoscalerOptions
    let events: EventRecorder
    /// Each autoscaler's recent recommendations, for the downscale window.
    private let recommendations = Mutex<[String: [(at: ContinuousClock.Instant, replicas: Int64)]]>([:])

    init(manager: ControllerManager, options: AutoscalerOptions) {
        store = manager.store
        autoscalers = manager.informer("horizontalpodautoscalers")
        pods = manager.informer("pods")
        self.options = options
        events = EventRecorder(store: manager.store, component: "horizontal-pod-autoscaler")
    }

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.syncPeriod)
            guard autoscalers.hasSynced && pods.hasSynced else { continue }
            for autoscaler in autoscalers.all where !PodFacts.isTerminating(autoscaler) {
                do {
                    try await evaluate(autoscaler)
                } catch {
                    // Evaluated again in the next period.
                }
            }
        }
    }

    func evaluate(_ autoscaler: JSONValue) async throws {
        let namespace = PodFacts.namespace(autoscaler)
        let reference = autoscaler[path: ["spec", "scaleTargetRef"]] ?? [:]
        let kind = reference["kind"]?.stringValue ?? ""
        let group = (reference["apiVersion"]?.stringValue ?? "").split(separator: "/").dropLast().joined(separator: "/")
        guard let targetResource = ResourceCatalog.find(kind: kind), targetResource.group == group,
              targetResource.subresources.contains("scale") else {
            try await report(autoscaler, reason: "FailedGetScale",
                             message: "the HPA controller was unable to get the target's current scale: no scale subresource for \(kind)")
            return
        }
        let targetName = reference["name"]?.stringValue ?? ""
        let target = try await store.get(targetResource, namespace: namespace, name: targetName)
        let current = target[path: ["spec", "replicas"]]?.intValue ?? 1
        let minimum = autoscaler[path: ["spec", "minReplicas"]]?.intValue ?? 1
        let maximum = autoscaler[path: ["spec", "maxReplicas"]]?.intValue ?? minimum
        let goal = autoscaler[path: ["spec", "targetCPUUtilizationPercentage"]]?.intValue ?? 80
        let selector = try LabelSelector(json: target[path: ["spec", "selector"]] ?? [:])
        var usage: Int64 = 0
        var requested: Int64 = 0
        for pod in pods.list(namespace: namespace) where PodFacts.isActive(pod) && pod[path: ["status", "phase"]] == "Running"
            && selector.matches(ObjectStore.labels(of: pod)) {
            let request = PodFacts.requests(pod).cpu
            guard let used = pod[path: ["metadata", "annotations", PodFacts.cpuUsageAnnotation]].flatMap(Quantity.milli), request > 0 else { continue }
            usage += used
            requested += request
        }
        guard requested > 0 else {
            try await report(autoscaler, reason: "FailedGetResourceMetric",
                             message: "failed to get cpu utilization: no pod of \(kind.lowercased())/\(targetName) reports its CPU use with a CPU request")
            return
        }
        let utilization = usage * 100 / requested
        let ratio = Double(utilization) / Double(goal)
        var recommended = abs(ratio - 1) <= 0.1 ? current : Int64((Double(current) * ratio).rounded(.up))
        recommended = min(max(recommended, minimum), maximum)
        // Down only as far as the highest recommendation within the stabilization window.
        let key = Informer.key(of: autoscaler)
        let now = ContinuousClock.now
        let window = options.downscaleStabilization
        let desired = recommendations.withLock { recommendations in
            var recent = (recommendations[key] ?? []).filter { $0.at.duration(to: now) <= window }
            recent.append((now, recommended))
            recommendations[key] = recent
            return recommended < current ? min(current, recent.map(\.replicas).max() ?? recommended) : recommended
        }
        var status: JSONValue = [
            "currentReplicas": .int(current), "desiredReplicas": .int(desired),
            "currentCPUUtilizationPercentage": .int(utilization),
            "observedGeneration": autoscaler[path: ["metadata", "generation"]] ?? 1,
        ]
        status["lastScaleTime"] = autoscaler[path: ["status", "lastScaleTime"]]
        if desired != current {
            _ = try await store.update(targetResource, namespace: namespace, name: targetName) { object throws(APIError) in
                var scaled = object
                scaled[path: ["spec", "replicas"]] = .int(desired)
                return scaled
            }
            status["lastScaleTime"] = .string(ObjectRules.timestamp(Date()))
            let direction = desired > current ? "above" : "below"
            await events.record(autoscaler, reason: "SuccessfulRescale",
                                message: "New size: \(desired); reason: cpu resource utilization (percentage of request) \(direction) target")
        }
        try await store.writeStatus(Self.resource, of: autoscaler, status)
    }

    /// Records why the autoscaler could not act, in an event and its status.
    private func report(_ autoscaler: JSONValue, reason: String, message: String) async throws {
        await events.record(autoscaler, type: "Warning", reason: reason, message: message)
        var status = autoscaler["status"] ?? [:]
        status["observedGeneration"] = autoscaler[path: ["metadata", "generation"]] ?? 1
        if status["currentReplicas"] == nil { status["currentReplicas"] = 0 }
        if status["desiredReplicas"] == nil { status["desiredReplicas"] = 0 }
        try await store.writeStatus(Self.resource, of: autoscaler, status)
    }
}
