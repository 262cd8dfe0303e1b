import EtcdClient
import Foundation
import Testing
import TestSupport

/// Many pods on many simulated nodes: a Deployment of `KUBE_SCALE_PODS` replicas (default 120)
/// on `KUBE_SCALE_NODES` nodes (default 12) is scheduled and Running, spread over every node;
/// prints the time it took and what it cost the store. `KUBE_SCALE_PODS=1000 KUBE_SCALE_NODES=100`
/// is the size (the README gives a measured run).
@Suite struct ScaleTests {
    static let pods = Int(ProcessInfo.processInfo.environment["KUBE_SCALE_PODS"] ?? "") ?? 120
    static let nodes = Int(ProcessInfo.processInfo.environment["KUBE_SCALE_NODES"] ?? "") ?? 12

    @Test func manyPodsAreScheduledAndRunningOnManyNodes() async throws {
        try await TemporaryDirectory.with(prefix: "kube-scale") { directory in
            let plane = try await KubeControlPlane.start(in: directory, etcdExecutable: try builtExecutable("etcd"))
                .withComponents(nodes: Self.nodes, cpu: "8", memory: "32Gi")
            defer { Task { await plane.stop() } }
            try await plane.waitFor("\(Self.nodes) Ready nodes", "get", "nodes", "--no-headers") { output in
                output.split(separator: "\n").filter { $0.contains(" Ready ") }.count == Self.nodes
            }
            let client = try EtcdClient(endpoints: plane.etcd.members.map(\.clientEndpoint))
            let before = try await client.status(endpoint: 0)
            let started = ContinuousClock.now
            try plane.ok("create", "deployment", "load", "--image=busybox:1.32", "--replicas=\(Self.pods)")
            try await plane.waitFor("\(Self.pods) pods available", timeout: .seconds(300),
                                    "get", "deployment", "load", "-o", "jsonpath={.status.availableReplicas}") { $0 == String(Self.pods) }
            let elapsed = started.duration(to: .now)
            let after = try await client.status(endpoint: 0)
            await client.close()
            let placement = try plane.ok("get", "pods", "--no-headers", "-o", "custom-columns=NODE:.spec.nodeName,PHASE:.status.phase")
                .split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(placement.count == Self.pods)
            #expect(placement.allSatisfy { $0.count == 2 && $0[1] == "Running" })
            let perNode = Dictionary(grouping: placement, by: { $0.first ?? "" }).mapValues(\.count)
            #expect(perNode.count == Self.nodes, "every node runs some: \(perNode)")
            #expect((perNode.values.max() ?? 0) - (perNode.values.min() ?? 0) <= 2, "replicas spread evenly: \(perNode)")
            print("""
                scale: \(Self.pods) pods on \(Self.nodes) simulated nodes Running in \(elapsed); the store went from \
                revision \(before.header.revision) to \(after.header.revision) (\(after.header.revision - before.header.revision) \
                writes), database \(before.dbSize / 1024) KiB to \(after.dbSize / 1024) KiB
                """)
        }
    }
}
