import Testing
@testable import KubeAPI

/// Server-side apply's field sets and merge, without a server: who owns what, what conflicts,
/// what an apply removes.
@Suite struct ServerSideApplyTests {
    let configMaps = ResourceCatalog.find(group: "", plural: "configmaps")!
    let deployments = ResourceCatalog.find(group: "apps", plural: "deployments")!

    private func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    private func conflict(_ applied: JSONValue, _ live: JSONValue, manager: String) -> APIError? {
        let result = Result { () throws(APIError) -> JSONValue in
            try ServerSideApply.apply(applied, to: live, manager: manager, force: false, resource: deployments)
        }
        if case .failure(let error) = result { return error }
        return nil
    }

    @Test func fieldsFollowKeyedListsSetsAndSkipIdentity() throws {
        let object = try json(#"""
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["x"]},
             "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "main", "image": "a"}]}}}, "status": {"replicas": 2}}
            """#)
        let fields = ServerSideApply.fields(of: object, resource: deployments)
        #expect(fields.json == (try json(#"""
            {"f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
             "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}
            """#)))
        #expect(fields.contains(["f:spec", "f:template", "f:spec", "f:containers", #"k:{"name":"main"}"#]))
        #expect(!fields.contains(["f:status", "f:replicas"]), "status has its own subresource")
    }

    @Test func anotherManagersDifferentValueConflictsAndAnEqualOneIsShared() throws {
        let first = try json(#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2, "paused": false}}"#)
        let live = ServerSideApply.created(first, from: first, manager: "alice", resource: deployments)
        let same = try json(#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}"#)
        let shared = try ServerSideApply.apply(same, to: live, manager: "bob", force: false, resource: deployments)
        #expect(ServerSideApply.entries(of: shared).map(\.manager).sorted() == ["alice", "bob"])

        let other = try json(#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4, "paused": false}}"#)
        let error = try #require(conflict(other, shared, manager: "carol"))
        #expect(error.code == 409 && error.message.contains(#"conflict with "alice" using apps/v1: .spec.replicas"#)
                && error.message.contains(#"conflict with "bob" using apps/v1: .spec.replicas"#) && error.message.hasPrefix("Apply failed with 2 conflicts"),
                "\(error.message)")
        let forced = try ServerSideApply.apply(other, to: shared, manager: "carol", force: true, resource: deployments)
        #expect(forced[path: ["spec", "replicas"]] == 4)
        let alice = try #require(ServerSideApply.entries(of: forced).first { $0.manager == "alice" })
        #expect(!alice.fields.contains(["f:spec", "f:replicas"]) && alice.fields.contains(["f:spec", "f:paused"]))
    }

    @Test func aFieldNoLongerAppliedIsRemovedUnlessSomeoneElseHoldsIt() throws {
        let first = try json(#"""
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}
            """#)
        var live = ServerSideApply.created(first, from: first, manager: "alice", resource: configMaps)
        // Someone else changes label b through an ordinary update: it becomes theirs.
        var edited = live
        edited[path: ["metadata", "labels", "b"]] = "3"
        live = ServerSideApply.recordUpdate(old: live, new: edited, manager: "kubectl", resource: configMaps, subresource: nil)
        let second = try json(#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1"}}"#)
        let result = try ServerSideApply.apply(second, to: live, manager: "alice", force: false, resource: configMaps)
        #expect(result["data"] == ["x": "1"])
        #expect(result[path: ["metadata", "labels"]] == ["a": "1", "b": "3"])
    }

    @Test func keyedListItemsMergeByKey() throws {
        let live = try json(#"{"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "a", "args": ["x"]}, {"name": "side", "image": "b"}]}}}}"#)
        let applied = try json(#"{"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "c"}]}}}}"#)
        let merged = ServerSideApply.merge(applied, into: live, schema: PatchSchema.forKind("Deployment"))
        #expect(merged[path: ["spec", "template", "spec", "containers"]] == (try json(#"[{"name": "main", "image": "c", "args": ["x"]}, {"name": "side", "image": "b"}]"#)))
    }
}
