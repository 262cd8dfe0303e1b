import Testing
@testable import KubeAPI

/// The three PATCH bodies: RFC 7386's and RFC 6902's own examples, and strategic merge patches as
/// kubectl apply, edit, set image, rollout undo and label send them.
@Suite struct PatchTests {
    // MARK: Helpers

    private func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    private func apply(_ type: PatchType, _ patch: String, to original: JSONValue, kind: String = "ConfigMap") throws -> JSONValue {
        try Patch.apply(type, patch: try json(patch), to: original, kind: kind)
    }

    /// The message of the PatchError the patch fails with, or nil when it applies.
    private func failure(_ type: PatchType, _ patch: String, to original: JSONValue, kind: String = "ConfigMap") throws -> String? {
        let body = try json(patch)
        let result = Result { () throws(PatchError) -> JSONValue in try Patch.apply(type, patch: body, to: original, kind: kind) }
        switch result {
        case .success: return nil
        case .failure(let error): return error.message
        }
    }

    private func deployment() throws -> JSONValue {
        try json(#"""
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"},
                      "finalizers": ["a.example.com/one", "b.example.com/two"],
                      "ownerReferences": [{"uid": "u1", "kind": "Thing", "name": "owner", "controller": true}]},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [
                                          {"name": "main", "image": "nginx:1.19",
                                           "env": [{"name": "MODE", "value": "blue"}, {"name": "LEVEL", "value": "3"}],
                                           "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                                          {"name": "sidecar", "image": "busybox:1.32",
                                           "env": [{"name": "MODE", "value": "side"}]}],
                                        "securityContext": {"runAsUser": 1000},
                                        "tolerations": [{"key": "a", "operator": "Exists"}]}}}}
        """#)
    }

    private func containers(_ object: JSONValue) -> [JSONValue] {
        object[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
    }

    // MARK: JSON merge patch (RFC 7386)

    @Test func mergePatchFollowsRFC7386AppendixA() throws {
        let cases: [(original: String, patch: String, result: String)] = [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"a":"foo"}"#, #"null"#, #"null"#),
            (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ]
        for (original, patch, result) in cases {
            #expect(try apply(.merge, patch, to: try json(original)) == (try json(result)), "\(original) + \(patch)")
        }
    }

    @Test func mergePatchFollowsRFC7386Section3() throws {
        let original = try json(#"""
        {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
         "tags": ["example", "sample"], "content": "This will be unchanged"}
        """#)
        let patched = try apply(.merge, #"""
        {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null}, "tags": ["example"]}
        """#, to: original)
        #expect(patched == (try json(#"""
        {"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
         "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"}
        """#)))
    }

    @Test func mergePatchReplacesListsWholeAndDeletesLabelsWithNull() throws {
        let patched = try apply(.merge, #"""
        {"metadata": {"labels": {"tier": null, "track": "stable"}},
         "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.20"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(patched[path: ["metadata", "labels"]] == ["app": "web", "track": "stable"])
        #expect(containers(patched) == [["name": "main", "image": "nginx:1.20"]])
    }

    // MARK: JSON Patch (RFC 6902)

    @Test func jsonPatchFollowsRFC6902AppendixA() throws {
        let cases: [(original: String, patch: String, result: String)] = [
            // A.1, A.2: adding an object member and an array element.
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
            (#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
            // A.3, A.4: removing an object member and an array element.
            (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
            (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
            // A.5: replacing a value.
            (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
            // A.6, A.7: moving a value and an array element.
            (#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
             #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
             #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#),
            (#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
             #"{"foo":["all","cows","eat","grass"]}"#),
            // A.8: tests that pass.
            (#"{"baz":"qux","foo":["a",2,"c"]}"#,
             #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#,
             #"{"baz":"qux","foo":["a",2,"c"]}"#),
            // A.10: adding a nested member object.
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#,
             #"{"foo":"bar","child":{"grandchild":{}}}"#),
            // A.11: unrecognized members of an operation are ignored.
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#, #"{"foo":"bar","baz":"qux"}"#),
            // A.14: "~01" is "~1", not "/".
            (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
            // A.16: adding an array value, with "-" appending.
            (#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
        ]
        for (original, patch, result) in cases {
            #expect(try apply(.json, patch, to: try json(original)) == (try json(result)), "\(original) + \(patch)")
        }
    }

    @Test func jsonPatchRefusesRFC6902AppendixAFailures() throws {
        // A.9: a failing test says which value failed.
        #expect(try failure(.json, #"[{"op":"test","path":"/baz","value":"bar"}]"#, to: try json(#"{"baz":"qux"}"#))
                == "testing value /baz failed: test failed")
        // A.12: adding to a nonexistent target.
        #expect(try failure(.json, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#, to: try json(#"{"foo":"bar"}"#)) != nil)
        // A.15: a string is not a number.
        #expect(try failure(.json, #"[{"op":"test","path":"/~01","value":"10"}]"#, to: try json(#"{"/":9,"~1":10}"#))
                == "testing value /~01 failed: test failed")
    }

    @Test func jsonPatchCopiesEscapesAppendsAndReplacesTheRoot() throws {
        let original = try json(#"{"metadata":{"annotations":{}},"data":{"a":{"b":1}},"list":[1]}"#)
        let patched = try apply(.json, #"""
        [{"op": "copy", "from": "/data/a", "path": "/data/c"},
         {"op": "add", "path": "/metadata/annotations/example.com~1note", "value": "x"},
         {"op": "add", "path": "/metadata/annotations/tilde~0key", "value": "y"},
         {"op": "add", "path": "/list/-", "value": 2},
         {"op": "add", "path": "/list/0", "value": 0},
         {"op": "test", "path": "/list/1", "value": 1.0},
         {"op": "move", "from": "/data/a", "path": "/moved"}]
        """#, to: original)
        #expect(patched == (try json(#"""
        {"metadata": {"annotations": {"example.com/note": "x", "tilde~key": "y"}},
         "data": {"c": {"b": 1}}, "moved": {"b": 1}, "list": [0, 1, 2]}
        """#)))
        #expect(try apply(.json, #"[{"op":"replace","path":"","value":{"fresh":true}}]"#, to: original) == ["fresh": true])
        // The copy is a copy: changing it leaves the source alone.
        let copied = try apply(.json, #"[{"op":"copy","from":"/data","path":"/copy"},{"op":"add","path":"/copy/z","value":1}]"#,
                               to: original)
        #expect(copied["data"] == original["data"])
    }

    @Test func jsonPatchRefusesMissingPathsBadIndicesAndMalformedOperations() throws {
        let original = try json(#"{"data":{"color":"blue"},"list":["x"]}"#)
        let refused = [
            #"[{"op":"remove","path":"/data/size"}]"#,
            #"[{"op":"replace","path":"/data/size","value":"s"}]"#,
            #"[{"op":"add","path":"/list/2","value":"y"}]"#,
            #"[{"op":"remove","path":"/list/1"}]"#,
            #"[{"op":"replace","path":"/list/-","value":"y"}]"#,
            #"[{"op":"add","path":"/list/01","value":"y"}]"#,
            #"[{"op":"move","from":"/data","path":"/data/inner"}]"#,
            #"[{"op":"copy","from":"/nothing","path":"/x"}]"#,
            #"[{"op":"test","path":"/data/size","value":"s"}]"#,
            #"[{"op":"add","path":"/data/size"}]"#,
            #"[{"op":"add","value":1}]"#,
            #"[{"op":"add","path":"data","value":1}]"#,
            #"[{"op":"add","path":"/data/bad~2escape","value":1}]"#,
            #"[{"op":"frobnicate","path":"/data"}]"#,
            #"[{"path":"/data"}]"#,
            #"[42]"#,
            #"{"op":"add","path":"/x","value":1}"#,
        ]
        for patch in refused {
            #expect(try failure(.json, patch, to: original) != nil, "\(patch)")
        }
        #expect(try failure(.json, #"[{"op":"remove","path":"/data/size"}]"#, to: original)
                == "error in remove for path: '/data/size': Unable to remove nonexistent key: size: missing value")
        #expect(try failure(.json, #"[{"op":"replace","path":"/data/size","value":"s"}]"#, to: original)
                == "replace operation does not apply: doc is missing key: /data/size: missing value")
        #expect(try failure(.json, #"[{"op":"frobnicate","path":"/data"}]"#, to: original) == "Unexpected kind: frobnicate")
        // One failing operation undoes the ones before it.
        #expect(try failure(.json, #"[{"op":"add","path":"/data/size","value":"s"},{"op":"test","path":"/data/color","value":"red"}]"#,
                            to: original) == "testing value /data/color failed: test failed")
    }

    // MARK: Strategic merge patch: lists merged by key

    @Test func strategicMergePatchMergesContainersByName() throws {
        // kubectl set image sidecar=...; kubectl apply changing one image.
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.20"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        let merged = containers(patched)
        #expect(merged.map { $0["name"] } == ["main", "sidecar"])
        #expect(merged.first?["image"] == "nginx:1.20")
        #expect(merged.first?["env"] == [["name": "MODE", "value": "blue"], ["name": "LEVEL", "value": "3"]])
        #expect(merged.first?["ports"] == [["containerPort": 80, "protocol": "TCP"]])
        #expect(merged.last == containers(try deployment()).last)
        #expect(patched[path: ["spec", "replicas"]] == 3)
    }

    @Test func strategicMergePatchMergesEnvByNameInsideATemplatesContainer() throws {
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "MODE", "value": "green"}]}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(patched).first?["env"] == [["name": "MODE", "value": "green"], ["name": "LEVEL", "value": "3"]])
        #expect(containers(patched).last?["env"] == [["name": "MODE", "value": "side"]])
        #expect(containers(patched).first?["image"] == "nginx:1.19")

        // As apimachinery does, an element new to the list goes before the ones it is compared with,
        // unless $setElementOrder (which kubectl apply sends) says where.
        let added = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "NEW", "value": "x"}]}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(added).first?["env"]?.arrayValue?.map { $0["name"] } == ["NEW", "MODE", "LEVEL"])
        let ordered = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "sidecar"}],
          "containers": [{"name": "main", "$setElementOrder/env": [{"name": "MODE"}, {"name": "LEVEL"}, {"name": "NEW"}],
                          "env": [{"name": "NEW", "value": "x"}]}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(ordered).first?["env"]?.arrayValue?.map { $0["name"] } == ["MODE", "LEVEL", "NEW"])
    }

    @Test func strategicMergePatchMergesServicePortsByPortAndContainerPortsByContainerPort() throws {
        let service = try json(#"""
        {"kind": "Service", "metadata": {"name": "web"},
         "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}}
        """#)
        let patched = try apply(.strategic, #"{"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}"#,
                                to: service, kind: "Service")
        #expect(patched[path: ["spec", "ports"]] == (try json(#"""
        [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
         {"name": "https", "port": 443, "targetPort": 9443, "protocol": "TCP"}]
        """#)))
        // The same field name under a container merges by containerPort.
        let pod = try json(#"""
        {"kind": "Pod", "metadata": {"name": "p"},
         "spec": {"containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}
        """#)
        let named = try apply(.strategic, #"{"spec": {"containers": [{"name": "main", "ports": [{"containerPort": 80, "name": "web"}]}]}}"#,
                              to: pod, kind: "Pod")
        #expect(named[path: ["spec", "containers"]]?.arrayValue?.first?["ports"] == [["containerPort": 80, "protocol": "TCP", "name": "web"]])
        // A kind without a schema replaces the list.
        let unknown = try apply(.strategic, #"{"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}"#, to: service, kind: "Widget")
        #expect(unknown[path: ["spec", "ports"]] == [["port": 443, "targetPort": 9443]])
    }

    @Test func strategicMergePatchMergesOwnerReferencesConditionsAndAddresses() throws {
        let owned = try apply(.strategic, #"{"metadata": {"ownerReferences": [{"uid": "u1", "blockOwnerDeletion": true}]}}"#,
                              to: try deployment(), kind: "Deployment")
        #expect(owned[path: ["metadata", "ownerReferences"]]
                == [["uid": "u1", "kind": "Thing", "name": "owner", "controller": true, "blockOwnerDeletion": true]])

        let pod = try json(#"""
        {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "main", "image": "nginx"}]},
         "status": {"phase": "Pending",
                    "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
                    "containerStatuses": [{"name": "main", "ready": false}, {"name": "old", "ready": false}]}}
        """#)
        let status = try apply(.strategic, #"""
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "main", "ready": true}]}}
        """#, to: pod, kind: "Pod")
        #expect(status[path: ["status", "conditions"]] == [["type": "Ready", "status": "True"], ["type": "PodScheduled", "status": "True"]])
        #expect(status[path: ["status", "containerStatuses"]] == [["name": "main", "ready": true]], "containerStatuses is replaced")

        let node = try json(#"""
        {"kind": "Node", "metadata": {"name": "n1"},
         "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]}}
        """#)
        let readdressed = try apply(.strategic, #"{"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}"#,
                                    to: node, kind: "Node")
        #expect(readdressed[path: ["status", "addresses"]]
                == [["type": "InternalIP", "address": "10.0.0.2"], ["type": "Hostname", "address": "n1"]])
    }

    @Test func strategicMergePatchReplacesUntaggedLists() throws {
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(patched[path: ["spec", "template", "spec", "tolerations"]] == [["key": "b", "operator": "Exists"]])

        let statefulSet = try json(#"""
        {"kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
                  "template": {"spec": {"containers": [{"name": "db", "image": "postgres"}]}}}}
        """#)
        let claims = try apply(.strategic, #"{"spec": {"volumeClaimTemplates": [{"metadata": {"name": "logs"}}]}}"#,
                               to: statefulSet, kind: "StatefulSet")
        #expect(claims[path: ["spec", "volumeClaimTemplates"]] == [["metadata": ["name": "logs"]]])
    }

    // MARK: Strategic merge patch: maps and primitive lists

    @Test func strategicMergePatchDeletesALabelWithNull() throws {
        let patched = try apply(.strategic, #"{"metadata": {"labels": {"tier": null, "track": "stable"}}}"#,
                                to: try deployment(), kind: "Deployment")
        #expect(patched[path: ["metadata", "labels"]] == ["app": "web", "track": "stable"])
        // A null for a key that is not there adds nothing, even inside a new map.
        let fresh = try apply(.strategic, #"{"metadata": {"annotations": {"a": "1", "b": null}, "missing": null}}"#,
                              to: try deployment(), kind: "Deployment")
        #expect(fresh[path: ["metadata", "annotations"]] == ["a": "1"])
        #expect(fresh[path: ["metadata", "missing"]] == nil)
    }

    @Test func strategicMergePatchMergesFinalizersAsAnOrderedSet() throws {
        let merged = try apply(.strategic, #"{"metadata": {"finalizers": ["b.example.com/two", "c.example.com/three"]}}"#,
                               to: try deployment(), kind: "Deployment")
        #expect(merged[path: ["metadata", "finalizers"]] == ["a.example.com/one", "b.example.com/two", "c.example.com/three"])
        // ObjectMeta's rules hold for a kind with no schema of its own.
        let widget = try json(#"{"kind": "Widget", "metadata": {"name": "w", "finalizers": ["x"]}, "spec": {"items": [1, 2]}}"#)
        let patchedWidget = try apply(.strategic, #"{"metadata": {"finalizers": ["x", "y"]}, "spec": {"items": [3]}}"#,
                                      to: widget, kind: "Widget")
        #expect(patchedWidget[path: ["metadata", "finalizers"]] == ["x", "y"])
        #expect(patchedWidget[path: ["spec", "items"]] == [3])
    }

    @Test func strategicMergePatchDeletesFromPrimitiveLists() throws {
        let patched = try apply(.strategic, #"{"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/one", "absent"]}}"#,
                                to: try deployment(), kind: "Deployment")
        #expect(patched[path: ["metadata", "finalizers"]] == ["b.example.com/two"])
        // Deleting from a list that is not there does not create it.
        let pod = try json(#"{"kind": "Pod", "metadata": {"name": "p"}}"#)
        let untouched = try apply(.strategic, #"{"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}"#, to: pod, kind: "Pod")
        #expect(untouched == pod)
    }

    // MARK: Strategic merge patch: directives

    @Test func strategicMergePatchDeletesAContainerWithPatchDelete() throws {
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(patched).map { $0["name"] } == ["main"])
        // Deleting an element that is not there is no error.
        let same = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"name": "ghost", "$patch": "delete"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(same == (try deployment()))
    }

    @Test func strategicMergePatchReplacesOrEmptiesAMapWithPatchDirective() throws {
        // kubectl rollout undo sends the old template with $patch: replace.
        let undone = try apply(.strategic, #"""
        {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "only", "image": "nginx:1.18"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(undone[path: ["spec", "template"]] == (try json(#"""
        {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "only", "image": "nginx:1.18"}]}}
        """#)))
        #expect(undone[path: ["spec", "replicas"]] == 3)

        // $patch: delete empties the map, as apimachinery does; an absent map stays absent.
        let emptied = try apply(.strategic, #"{"spec": {"template": {"spec": {"securityContext": {"$patch": "delete"}}}}}"#,
                                to: try deployment(), kind: "Deployment")
        #expect(emptied[path: ["spec", "template", "spec", "securityContext"]] == [:])
        let absent = try apply(.strategic, #"{"spec": {"template": {"spec": {"dnsConfig": {"$patch": "delete"}}}}}"#,
                               to: try deployment(), kind: "Deployment")
        #expect(absent == (try deployment()))
    }

    @Test func strategicMergePatchReplacesAListWithAPatchReplaceElement() throws {
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "nginx:1.21"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(patched) == [["name": "only", "image": "nginx:1.21"]])
        let emptied = try apply(.strategic, #"{"metadata": {"ownerReferences": [{"$patch": "replace"}]}}"#,
                                to: try deployment(), kind: "Deployment")
        #expect(emptied[path: ["metadata", "ownerReferences"]] == [])
    }

    @Test func strategicMergePatchOrdersAListBySetElementOrder() throws {
        let patched = try apply(.strategic, #"""
        {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "main"}],
                                        "containers": [{"name": "main", "image": "nginx:1.21"}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(containers(patched).map { $0["name"] } == ["sidecar", "main"])
        #expect(containers(patched).last?["image"] == "nginx:1.21")
        #expect(containers(patched).last?["env"] == containers(try deployment()).first?["env"])

        // Elements the patch does not list (the server's own) keep their place among the others.
        let pod = try json(#"""
        {"kind": "Pod", "metadata": {"name": "p"},
         "spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}, {"name": "x", "image": "i"},
                                 {"name": "c", "image": "i"}, {"name": "d", "image": "i"}]}}
        """#)
        let reordered = try apply(.strategic, #"""
        {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "d"}, {"name": "c"}]}}
        """#, to: pod, kind: "Pod")
        #expect(reordered[path: ["spec", "containers"]]?.arrayValue?.map { $0["name"] } == ["b", "a", "x", "d", "c"])

        // Primitive lists are ordered by value.
        let finalizers = try apply(.strategic, #"""
        {"metadata": {"$setElementOrder/finalizers": ["b.example.com/two", "a.example.com/one", "c.example.com/three"],
                      "finalizers": ["c.example.com/three"]}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(finalizers[path: ["metadata", "finalizers"]] == ["b.example.com/two", "a.example.com/one", "c.example.com/three"])

        // The patch's elements must be in the list, in its order.
        #expect(try failure(.strategic, #"""
        {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "main"}],
                                        "containers": [{"name": "sidecar", "image": "x"}]}}}}
        """#, to: try deployment(), kind: "Deployment") != nil)
    }

    @Test func strategicMergePatchRetainsOnlyTheListedKeys() throws {
        // kubectl apply switching a Deployment to Recreate.
        let patched = try apply(.strategic, #"{"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}"#,
                                to: try deployment(), kind: "Deployment")
        #expect(patched[path: ["spec", "strategy"]] == ["type": "Recreate"])
        let withNull = try apply(.strategic, #"{"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}"#,
                                 to: try deployment(), kind: "Deployment")
        #expect(withNull[path: ["spec", "strategy"]] == ["type": "Recreate"])
        // A key the patch sets must be retained.
        #expect(try failure(.strategic, #"{"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}"#,
                            to: try deployment(), kind: "Deployment")?.hasPrefix("invalid patch format of retainKeys") == true)
    }

    @Test func strategicMergePatchLeavesNoDirectiveInTheResult() throws {
        let patched = try apply(.strategic, #"""
        {"$retainKeys": ["apiVersion", "kind", "metadata", "spec"],
         "metadata": {"$deleteFromPrimitiveList/finalizers": ["b.example.com/two"],
                      "$setElementOrder/finalizers": ["a.example.com/one"]},
         "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "main"}, {"name": "sidecar"}, {"name": "new"}],
            "containers": [{"name": "new", "image": "x",
                            "$setElementOrder/env": [{"name": "A"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "$patch": "delete"}],
                            "securityContext": {"$patch": "replace", "runAsUser": 1, "runAsGroup": null},
                            "resources": {"$patch": "delete"}}],
            "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}]}}}}
        """#, to: try deployment(), kind: "Deployment")
        #expect(!patched.text.contains("$"), "\(patched.text)")
        let added = containers(patched).last
        #expect(containers(patched).map { $0["name"] } == ["main", "sidecar", "new"])
        #expect(added == ["name": "new", "image": "x", "env": [["name": "A", "value": "1"]], "securityContext": ["runAsUser": 1]])
        #expect(patched[path: ["spec", "template", "spec", "volumes"]] == [["name": "v", "emptyDir": [:]]])
        #expect(patched[path: ["metadata", "finalizers"]] == ["a.example.com/one"])
    }

    @Test func strategicMergePatchRefusesMalformedPatches() throws {
        let original = try deployment()
        let refused = [
            #"["not", "an", "object"]"#,
            #"{"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}"#,
            #"{"spec": {"template": {"spec": {"containers": [{"name": "main", "$patch": "merge"}]}}}}"#,
            #"{"spec": {"template": {"spec": {"containers": ["main"]}}}}"#,
            #"{"spec": {"strategy": {"$patch": "shuffle"}}}"#,
            #"{"metadata": {"$deleteFromPrimitiveList/finalizers": "a.example.com/one"}}"#,
            #"{"metadata": {"$setElementOrder": ["x"]}}"#,
            #"{"spec": {"strategy": {"$retainKeys": "type"}}}"#,
        ]
        for patch in refused {
            #expect(try failure(.strategic, patch, to: original, kind: "Deployment") != nil, "\(patch)")
        }
    }

    @Test func strategicMergePatchKeepsARawExtensionWhole() throws {
        // A ControllerRevision's data is a stored patch: its directives are data.
        let revision = try json(#"{"kind": "ControllerRevision", "metadata": {"name": "r"}, "revision": 1, "data": {"spec": {"a": 1}}}"#)
        let patched = try apply(.strategic, #"{"data": {"spec": {"template": {"$patch": "replace"}}}}"#,
                                to: revision, kind: "ControllerRevision")
        #expect(patched["data"] == ["spec": ["template": ["$patch": "replace"]]])
    }

    @Test func scaleIsPatchedAsAPlainObject() throws {
        let scale = try json(#"{"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"}, "spec": {"replicas": 3}}"#)
        for type in [PatchType.merge, .strategic] {
            #expect(try apply(type, #"{"spec": {"replicas": 5}}"#, to: scale, kind: "Scale")[path: ["spec", "replicas"]] == 5)
        }
        let replaced = try apply(.json, #"[{"op": "replace", "path": "/spec/replicas", "value": 5}]"#, to: scale, kind: "Scale")
        #expect(replaced[path: ["spec", "replicas"]] == 5)
    }
}
