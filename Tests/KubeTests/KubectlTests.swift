import EtcdClient
import Foundation
import KubeAPI
import Testing
import TestSupport

/// Debian's kubectl 1.20 against our kube-apiserver, on our etcd and on Debian's: what a user
/// types, and what they must see.
@Suite(.serialized) struct KubectlTests {
    static func withControlPlane(_ server: String, _ body: (KubeControlPlane) async throws -> Void) async throws {
        let etcd = server == "ours" ? try builtExecutable("etcd") : EtcdMember.referenceExecutable
        try await TemporaryDirectory.with(prefix: "kube-\(server)") { directory in
            let plane = try await KubeControlPlane.start(in: directory, etcdExecutable: etcd)
            do {
                try await body(plane)
            } catch {
                print("kube-apiserver log:\n" + plane.apiserver.logTail(lines: 40))
                await plane.stop()
                throw error
            }
            await plane.stop()
        }
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web}
        spec:
          replicas: 3
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: main
                image: nginx:1.19
                env:
                - {name: MODE, value: blue}
                ports:
                - containerPort: 80
              - name: sidecar
                image: busybox:1.32
        """

    @Test(arguments: ["ours", "reference"])
    func discoveryAndSystemNamespaces(server: String) async throws {
        try await Self.withControlPlane(server) { plane in
            let versions = try plane.ok("api-versions")
            #expect(versions.split(separator: "\n").contains("apps/v1"), "\(versions)")
            #expect(versions.split(separator: "\n").contains("v1"))
            let resources = try plane.ok("api-resources", "--no-headers")
            #expect(resources.contains("deployments") && resources.contains("deploy") && resources.contains("Deployment"))
            let namespaces = try plane.ok("get", "namespaces")
            let lines = namespaces.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            #expect(lines.first.map { $0.map(String.init) } == ["NAME", "STATUS", "AGE"], "\(namespaces)")
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                #expect(lines.contains { $0.first.map(String.init) == name && $0.dropFirst().first == "Active" }, "\(namespaces)")
            }
        }
    }

    @Test(arguments: ["ours", "reference"])
    func configMapsAreCreatedReadPatchedAndStoredAsKubeApiserverStoresThem(server: String) async throws {
        try await Self.withControlPlane(server) { plane in
            #expect(try plane.ok("create", "configmap", "settings", "--from-literal=color=blue").contains("configmap/settings created"))
            let duplicate = try plane.kubectl("create", "configmap", "settings", "--from-literal=color=red")
            #expect(duplicate.exitCode != 0)
            #expect(duplicate.stderr.contains("Error from server (AlreadyExists): configmaps \"settings\" already exists"),
                    "\(duplicate.stderr)")
            #expect(try plane.ok("get", "configmap", "settings", "-o", "jsonpath={.data.color}") == "blue")

            let table = try plane.ok("get", "configmaps")
            #expect(table.hasPrefix("NAME"), "\(table)")
            #expect(table.contains("DATA"))
            #expect(table.split(separator: "\n").contains { $0.hasPrefix("settings") && $0.split(separator: " ").dropFirst().first == "1" })

            // A merge patch, a JSON patch, and kubectl label (a merge patch too).
            try plane.ok("patch", "configmap", "settings", "--type=merge", "-p", #"{"data":{"size":"large"}}"#)
            try plane.ok("patch", "configmap", "settings", "--type=json", "-p", #"[{"op":"replace","path":"/data/color","value":"green"}]"#)
            try plane.ok("label", "configmap", "settings", "tier=front")
            let object = try JSONValue(parsing: try plane.ok("get", "configmap", "settings", "-o", "json"))
            #expect(object["data"] == ["color": "green", "size": "large"])
            #expect(object[path: ["metadata", "labels", "tier"]] == "front")
            let failedTest = try plane.kubectl("patch", "configmap", "settings", "--type=json",
                                               "-p", #"[{"op":"test","path":"/data/color","value":"blue"}]"#)
            #expect(failedTest.exitCode != 0, "a failed JSON Patch test must refuse the patch")

            // In etcd: JSON at kube-apiserver's key, the resourceVersion being the key's mod_revision.
            let client = try EtcdClient(endpoints: plane.etcd.members.map(\.clientEndpoint))
            let stored = try #require(try await client.get("/registry/configmaps/default/settings").kvs.first)
            let storedObject = try JSONValue(parsing: stored.value)
            #expect(storedObject["data"] == object["data"])
            #expect(storedObject[path: ["metadata", "resourceVersion"]] == nil)
            #expect(object[path: ["metadata", "resourceVersion"]]?.stringValue == String(stored.modRevision))
            await client.close()

            #expect(try plane.ok("delete", "configmap", "settings").contains("configmap \"settings\" deleted"))
            let gone = try plane.kubectl("get", "configmap", "settings")
            #expect(gone.stderr.contains("Error from server (NotFound): configmaps \"settings\" not found"), "\(gone.stderr)")
        }
    }

    @Test(arguments: ["ours", "reference"])
    func deploymentsAreAppliedScaledAndMergedByContainerName(server: String) async throws {
        try await Self.withControlPlane(server) { plane in
            let noValidation = try plane.kubectl("apply", "-f", "-", stdin: Self.deployment)
            #expect(noValidation.exitCode != 0, "without /openapi/v2, kubectl needs --validate=false")
            #expect(try plane.ok("apply", "--validate=false", "-f", "-", stdin: Self.deployment).contains("deployment.apps/web created"))
            let table = try plane.ok("get", "deployments")
            #expect(table.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) }
                    == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "\(table)")
            #expect(table.contains("0/3"), "\(table)")

            // A second apply changes one container's image and one env value: a strategic merge
            // patch, merged by container and env name (the sidecar and the ports stay).
            let changed = Self.deployment.replacingOccurrences(of: "nginx:1.19", with: "nginx:1.20")
                .replacingOccurrences(of: "value: blue", with: "value: green")
            #expect(try plane.ok("apply", "--validate=false", "-f", "-", stdin: changed).contains("deployment.apps/web configured"))
            let object = try JSONValue(parsing: try plane.ok("get", "deployment", "web", "-o", "json"))
            let containers = object[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            #expect(containers.map { $0["name"] } == ["main", "sidecar"])
            #expect(containers.first?["image"] == "nginx:1.20")
            #expect(containers.first?["env"] == [["name": "MODE", "value": "green"]])
            #expect(containers.first?["ports"]?.arrayValue?.count == 1)
            #expect(object[path: ["metadata", "generation"]] == 2)
            #expect(object[path: ["spec", "strategy", "rollingUpdate", "maxSurge"]] == "25%", "defaults are filled in")

            #expect(try plane.ok("scale", "deployment", "web", "--replicas=5").contains("deployment.apps/web scaled"))
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}") == "5 3")
            try plane.ok("set", "image", "deployment/web", "sidecar=busybox:1.33")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}")
                    == "nginx:1.20 busybox:1.33")

            let invalid = try plane.kubectl("scale", "deployment", "web", "--replicas=-1")
            #expect(invalid.exitCode != 0)
            let mismatched = Self.deployment.replacingOccurrences(of: "labels: {app: web}\n    spec:", with: "labels: {app: other}\n    spec:")
            let refused = try plane.kubectl("create", "-f", "-", "--validate=false", stdin: mismatched.replacingOccurrences(of: "name: web", with: "name: web2"))
            #expect(refused.stderr.contains("`selector` does not match template `labels`"), "\(refused.stderr)")

            #expect(try plane.ok("delete", "deployment", "web").contains("deployment.apps \"web\" deleted"))
            #expect(try plane.ok("get", "deployments", "--no-headers").isEmpty)
        }
    }

    @Test(arguments: ["ours", "reference"])
    func listsArePagedAndFilteredAndWatchesSeeChanges(server: String) async throws {
        try await Self.withControlPlane(server) { plane in
            for index in 0..<7 {
                try plane.ok("create", "configmap", "c\(index)", "--from-literal=index=\(index)")
                try plane.ok("label", "configmap", "c\(index)", "parity=\(index % 2 == 0 ? "even" : "odd")")
            }
            let paged = try plane.ok("get", "configmaps", "--chunk-size=2", "--no-headers", "-o", "custom-columns=NAME:.metadata.name")
            #expect(paged.split(separator: "\n").filter { $0.hasPrefix("c") } == ["c0", "c1", "c2", "c3", "c4", "c5", "c6"], "\(paged)")
            let even = try plane.ok("get", "configmaps", "-l", "parity=even", "-o", "name")
            #expect(even.split(separator: "\n") == ["configmap/c0", "configmap/c2", "configmap/c4", "configmap/c6"])
            let notOdd = try plane.ok("get", "configmaps", "-l", "parity notin (odd)", "-o", "name")
            #expect(notOdd.split(separator: "\n").contains("configmap/c0") && !notOdd.contains("c1"))
            let byName = try plane.ok("get", "configmaps", "--field-selector", "metadata.name=c3", "-o", "name")
            #expect(byName == "configmap/c3\n")
            let badField = try plane.kubectl("get", "configmaps", "--field-selector", "spec.nodeName=x")
            #expect(badField.exitCode != 0)

            let missing = try plane.kubectl("create", "configmap", "x", "-n", "nowhere")
            #expect(missing.stderr.contains("namespaces \"nowhere\" not found"), "\(missing.stderr)")

            // A watch from now: kubectl prints the existing objects, then each change.
            let watcher = Task.detached {
                try plane.kubectl("get", "configmaps", "-l", "parity=odd", "--watch", "--no-headers", "-o", "custom-columns=NAME:.metadata.name,V:.data.index",
                                  interruptAfter: .seconds(6))
            }
            try await Task.sleep(for: .seconds(3))
            try plane.ok("patch", "configmap", "c1", "--type=merge", "-p", #"{"data":{"index":"one"}}"#)
            try plane.ok("create", "configmap", "c9", "--from-literal=index=9")
            try plane.ok("label", "configmap", "c9", "parity=odd")
            let watched = try await watcher.value.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
            #expect(watched.prefix(3) == ["c1 1", "c3 3", "c5 5"], "\(watched)")
            #expect(watched.contains("c1 one"), "\(watched)")
            #expect(watched.contains("c9 9"), "a configmap labelled into the selector must be seen: \(watched)")
        }
    }

    /// `kubectl apply --server-side`: the object is created and its fields recorded as kubectl's;
    /// `kubectl scale` takes spec.replicas, so applying another count is a conflict until forced;
    /// a field the configuration stops setting is removed, one another manager set is kept.
    @Test func serverSideApplyTracksWhoSetWhatAndReportsConflicts() async throws {
        try await Self.withControlPlane("ours") { plane in
            #expect(try plane.ok("apply", "--server-side", "--validate=false", "-f", "-", stdin: Self.deployment)
                .contains("deployment.apps/web serverside-applied"))
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.metadata.managedFields[*].operation}") == "Apply")
            let fields = try plane.ok("get", "deployment", "web", "-o", "jsonpath={.metadata.managedFields[0].fieldsV1}")
            #expect(fields.contains("\"f:replicas\":{}") && fields.contains("k:{\\\"name\\\":\\\"main\\\"}") && !fields.contains("f:revisionHistoryLimit"),
                    "\(fields)")

            try plane.ok("scale", "deployment", "web", "--replicas=5")
            try plane.ok("label", "deployment", "web", "team=storage")
            let conflict = try plane.kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin: Self.deployment)
            #expect(conflict.exitCode != 0 && conflict.stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"),
                    "\(conflict)")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "5", "a refused apply changes nothing")

            // Forced, without the env variable and with another image.
            let trimmed = Self.deployment.replacingOccurrences(of: "        env:\n        - {name: MODE, value: blue}\n", with: "")
                .replacingOccurrences(of: "nginx:1.19", with: "nginx:1.20")
            #expect(!trimmed.contains("MODE"))
            #expect(try plane.ok("apply", "--server-side", "--force-conflicts", "--validate=false", "-f", "-", stdin: trimmed)
                .contains("serverside-applied"))
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "3")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1.20")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].env[*].name}") == "")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.metadata.labels.team}") == "storage")
            #expect(try plane.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[1].name}") == "sidecar")
        }
    }
}
