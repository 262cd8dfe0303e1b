import Foundation
import Testing
import TestSupport

/// Debian's python3-kubernetes (22.6) against our kube-apiserver on our etcd: the typed client
/// creates, reads, patches, watches and deletes, and sees Kubernetes' errors as ApiExceptions.
@Suite struct KubernetesPythonClientTests {
    static let script = #"""
        import sys, json
        from kubernetes import client, config, watch
        config.load_kube_config(config_file=sys.argv[1])
        v1 = client.CoreV1Api()
        out = {}
        out["namespaces"] = sorted(n.metadata.name for n in v1.list_namespace().items)
        cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"from": "python"}), data={"a": "1"})
        created = v1.create_namespaced_config_map("default", cm)
        out["created_rv"] = created.metadata.resource_version
        try:
            v1.create_namespaced_config_map("default", cm)
        except client.exceptions.ApiException as e:
            out["duplicate"] = [e.status, json.loads(e.body)["reason"]]
        v1.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
        out["data"] = v1.read_namespaced_config_map("py", "default").data
        out["listed"] = [c.metadata.name for c in v1.list_namespaced_config_map("default", label_selector="from=python").items]
        events = []
        for event in watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=2):
            events.append([event["type"], event["object"].metadata.name])
        out["watched"] = events
        v1.delete_namespaced_config_map("py", "default")
        try:
            v1.read_namespaced_config_map("py", "default")
        except client.exceptions.ApiException as e:
            out["after_delete"] = e.status
        print(json.dumps(out))
        """#

    @Test func thePythonClientCreatesReadsPatchesWatchesAndDeletes() async throws {
        let python = "/usr/bin/python3"
        let probe = try runProcess(python, ["-c", "import kubernetes"])
        try #require(probe.exitCode == 0, "python3-kubernetes is not installed (scripts/test installs it)")
        try await TemporaryDirectory.with(prefix: "kube-python") { directory in
            let plane = try await KubeControlPlane.start(in: directory, etcdExecutable: try builtExecutable("etcd"))
            defer { Task { await plane.stop() } }
            let scriptPath = directory.appending("client.py")
            try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
            let result = try runProcess(python, [scriptPath, plane.kubeconfig])
            #expect(result.exitCode == 0, "\(result.stderr)")
            let output = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(output["namespaces"] as? [String] == ["default", "kube-node-lease", "kube-public", "kube-system"])
            #expect(Int(output["created_rv"] as? String ?? "") ?? 0 > 0)
            #expect((output["duplicate"] as? [Any])?.first as? Int == 409)
            #expect((output["duplicate"] as? [Any])?.last as? String == "AlreadyExists")
            #expect(output["data"] as? [String: String] == ["a": "1", "b": "2"])
            #expect(output["listed"] as? [String] == ["py"])
            #expect((output["watched"] as? [[String]])?.contains(["ADDED", "py"]) == true, "\(result.stdout)")
            #expect(output["after_delete"] as? Int == 404)
        }
    }
}
