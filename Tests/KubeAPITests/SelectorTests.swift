import Foundation
import Testing
@testable import KubeAPI

@Suite struct LabelSelectorTests {
    private func parse(_ text: String) throws -> LabelSelector { try LabelSelector(parsing: text) }

    private func parseError(_ text: String) -> String? {
        do {
            _ = try LabelSelector(parsing: text)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func equalityMatchesOnlyThatValue() throws {
        for text in ["app=web", "app==web", " app = web "] {
            let selector = try parse(text)
            #expect(selector.matches(["app": "web", "tier": "front"]))
            #expect(!selector.matches(["app": "db"]))
            #expect(!selector.matches([:]))
        }
    }

    @Test func inequalityAndNotInMatchObjectsWithoutTheLabel() throws {
        let notEqual = try parse("app!=web")
        #expect(notEqual.matches([:]))
        #expect(notEqual.matches(["app": "db"]))
        #expect(!notEqual.matches(["app": "web"]))

        let notIn = try parse("env notin (dev)")
        #expect(notIn.matches([:]))
        #expect(notIn.matches(["env": "prod"]))
        #expect(!notIn.matches(["env": "dev"]))
    }

    @Test func setMembershipToleratesWhitespace() throws {
        let selector = try parse("env in ( prod , staging )")
        #expect(selector.matches(["env": "prod"]))
        #expect(selector.matches(["env": "staging"]))
        #expect(!selector.matches(["env": "dev"]))
        #expect(!selector.matches([:]))
        #expect(selector.description == "env in (prod,staging)")
    }

    @Test func existenceAndAbsence() throws {
        let exists = try parse("tier")
        #expect(exists.matches(["tier": ""]))
        #expect(!exists.matches(["app": "web"]))
        let absent = try parse("!tier")
        #expect(absent.matches(["app": "web"]))
        #expect(!absent.matches(["tier": "x"]))
    }

    @Test func commasMeanAnd() throws {
        let selector = try parse("app=web,tier!=db,release")
        #expect(selector.matches(["app": "web", "tier": "front", "release": "1"]))
        #expect(!selector.matches(["app": "web", "tier": "db", "release": "1"]))
        #expect(!selector.matches(["app": "web"]))
    }

    @Test func emptySelectorMatchesEverything() throws {
        let selector = try parse("")
        #expect(selector.isEmpty)
        #expect(selector.matches([:]))
        #expect(selector.matches(["a": "b"]))
        #expect(selector.description == "")
        #expect(LabelSelector().matches(["x": "y"]))
    }

    @Test func integerComparisons() throws {
        let selector = try parse("replicas>2")
        #expect(selector.matches(["replicas": "3"]))
        #expect(!selector.matches(["replicas": "2"]))
        #expect(!selector.matches(["replicas": "many"]))
        #expect(try parse("replicas<2").matches(["replicas": "1"]))
        #expect(parseError("replicas>x") == "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
    }

    @Test func descriptionIsCanonical() throws {
        #expect(try parse("b=2, a in (y,x), !c, d").description == "a in (x,y),b=2,!c,d")
        #expect(try parse("x notin (b,a),y!=1").description == "x notin (a,b),y!=1")
    }

    @Test func emptyValues() throws {
        #expect(try parse("a=").matches(["a": ""]))
        #expect(try parse("a in ()").matches(["a": ""]))
        #expect(try parse("a in (,b)").matches(["a": ""]))
        #expect(try parse("x in (in)").matches(["x": "in"]))
    }

    @Test func parseErrorsAreWordedAsKubernetes() {
        #expect(parseError("app=web,") == "found '', expected: identifier after ','")
        #expect(parseError("=web") == "found '=', expected: !, identifier, or 'end of string'")
        #expect(parseError("a b") == "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'")
        #expect(parseError("env in prod") == "unable to parse requirement: found 'prod' expected: '('")
        #expect(parseError("env in (a b)") == "unable to parse requirement: found 'b', expected: ',' or ')'")
        #expect(parseError("a=b c") == "found 'c', expected: ',' or 'end of string'")
        #expect(parseError("a=(") == "unable to parse requirement: found '(', expected: identifier")
        #expect(parseError("-app=x")?.hasPrefix("unable to parse requirement: invalid label key \"-app\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')") == true)
        #expect(parseError("app=-x") == "unable to parse requirement: invalid label value: \"-x\": at key: \"app\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
        #expect(parseError("Example.com/app=x")?.hasPrefix("unable to parse requirement: invalid label key \"Example.com/app\": prefix part a lowercase RFC 1123 subdomain") == true)
        #expect(parseError("example.com/app=x") == nil)
    }

    @Test func jsonSelectorCombinesLabelsAndExpressions() throws {
        let selector = try LabelSelector(json: [
            "matchLabels": ["app": "web"],
            "matchExpressions": [
                ["key": "tier", "operator": "In", "values": ["front", "edge"]],
                ["key": "env", "operator": "NotIn", "values": ["dev"]],
                ["key": "release", "operator": "Exists"],
                ["key": "canary", "operator": "DoesNotExist"],
            ],
        ])
        #expect(selector.matches(["app": "web", "tier": "edge", "release": "3"]))
        #expect(!selector.matches(["app": "web", "tier": "edge", "release": "3", "env": "dev"]))
        #expect(!selector.matches(["app": "web", "tier": "edge", "release": "3", "canary": "yes"]))
        #expect(!selector.matches(["app": "web", "tier": "back", "release": "3"]))
        #expect(selector.description == "app=web,!canary,env notin (dev),release,tier in (edge,front)")
    }

    @Test func jsonEmptyAndNullSelectors() throws {
        #expect(try LabelSelector(json: [:]).matches(["any": "thing"]))
        #expect(try LabelSelector(json: [:]).isEmpty)
        let nothing = try LabelSelector(json: .null)
        #expect(!nothing.matches([:]))
        #expect(!nothing.isEmpty)
        #expect(nothing.description == "")
    }

    @Test func jsonSelectorErrors() {
        #expect(throws: SelectorError("\"Maybe\" is not a valid pod selector operator")) {
            try LabelSelector(json: ["matchExpressions": [["key": "a", "operator": "Maybe"]]])
        }
        #expect(throws: SelectorError("for 'in', 'notin' operators, values set can't be empty")) {
            try LabelSelector(json: ["matchExpressions": [["key": "a", "operator": "In", "values": []]]])
        }
        #expect(throws: SelectorError("values set must be empty for exists and does not exist")) {
            try LabelSelector(json: ["matchExpressions": [["key": "a", "operator": "Exists", "values": ["x"]]]])
        }
    }
}

@Suite struct FieldSelectorTests {
    private let pod: JSONValue = [
        "metadata": ["name": "web-1", "namespace": "default"],
        "spec": ["nodeName": "node-a", "restartPolicy": "Always"],
        "status": ["phase": "Running", "podIP": "10.0.0.5"],
    ]

    @Test func equalityAndInequality() throws {
        #expect(try FieldSelector(parsing: "metadata.name=web-1").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name==web-1").matches(pod))
        #expect(!(try FieldSelector(parsing: "metadata.name=web-2").matches(pod)))
        #expect(try FieldSelector(parsing: "status.phase!=Pending,spec.nodeName=node-a").matches(pod))
        #expect(!(try FieldSelector(parsing: "status.phase!=Running").matches(pod)))
        #expect(try FieldSelector(parsing: "").matches(pod))
    }

    @Test func missingFieldsCompareAsEmpty() throws {
        #expect(try FieldSelector(parsing: "spec.nodeName=").matches(["metadata": ["name": "x"]]))
        #expect(try FieldSelector(parsing: "status.nominatedNodeName=").matches(pod))
        #expect(!(try FieldSelector(parsing: "spec.schedulerName=default-scheduler").matches(pod)))
    }

    @Test func typedFieldsCompareAsGoPrintsThem() throws {
        let cordoned: JSONValue = ["metadata": ["name": "n1"], "spec": ["unschedulable": true]]
        let plain: JSONValue = ["metadata": ["name": "n2"]]
        let selector = try FieldSelector(parsing: "spec.unschedulable=true")
        #expect(selector.matches(cordoned))
        #expect(!selector.matches(plain))
        // An unset bool is false, not "", as in the node registry's field set.
        #expect(try FieldSelector(parsing: "spec.unschedulable=false").matches(plain))
        #expect(try FieldSelector(parsing: "status.replicas=3").matches(["status": ["replicas": 3]]))
        #expect(try FieldSelector(parsing: "status.replicas=0").matches([:]))
    }

    @Test func eventSourceIsItsComponent() throws {
        let event: JSONValue = ["involvedObject": ["kind": "Pod", "name": "web-1"], "source": ["component": "kubelet"],
                                "reason": "Started"]
        #expect(try FieldSelector(parsing: "source=kubelet,involvedObject.kind=Pod,reason=Started").matches(event))
    }

    @Test func escapedValues() throws {
        let selector = try FieldSelector(parsing: #"metadata.name=a\,b\=c\\d"#)
        #expect(selector.matches(["metadata": ["name": #"a,b=c\d"#]]))
        #expect(selector.description == #"metadata.name=a\,b\=c\\d"#)
    }

    @Test func descriptionSortsTerms() throws {
        #expect(try FieldSelector(parsing: "status.phase!=Running,metadata.name==x").description
            == "metadata.name=x,status.phase!=Running")
    }

    @Test func parseErrors() {
        #expect(throws: SelectorError("invalid selector: 'metadata.name'; can't understand 'metadata.name'")) {
            try FieldSelector(parsing: "metadata.name")
        }
        #expect(throws: SelectorError("invalid field selector: unescaped character in value: =")) {
            try FieldSelector(parsing: "metadata.name=a=b")
        }
        #expect(throws: SelectorError(#"invalid field selector: invalid escape sequence: \x"#)) {
            try FieldSelector(parsing: #"metadata.name=a\x"#)
        }
    }

    @Test func supportedFieldsPerResource() throws {
        try FieldSelector(parsing: "spec.nodeName=a,status.phase=Running,metadata.namespace=x").validate(resource: "pods")
        try FieldSelector(parsing: "involvedObject.name=a,reportingComponent=b,type=Warning").validate(resource: "events")
        try FieldSelector(parsing: "spec.unschedulable=true,metadata.name=n").validate(resource: "nodes")
        try FieldSelector(parsing: "type=Opaque").validate(resource: "secrets")
        try FieldSelector(parsing: "status.phase=Active").validate(resource: "namespaces")
        try FieldSelector(parsing: "status.replicas=1").validate(resource: "replicasets")
        try FieldSelector(parsing: "metadata.name=a,metadata.namespace=b").validate(resource: "configmaps")
    }

    @Test func unsupportedFieldsAreRefusedWithKubernetesWording() throws {
        #expect(throws: SelectorError(#""spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace""#)) {
            try FieldSelector(parsing: "spec.replicas=3").validate(resource: "deployments")
        }
        #expect(throws: SelectorError("field label not supported: spec.containers")) {
            try FieldSelector(parsing: "spec.containers=x").validate(resource: "pods")
        }
        #expect(throws: SelectorError("field label not supported: metadata.namespace")) {
            try FieldSelector(parsing: "metadata.namespace=x").validate(resource: "nodes")
        }
        // Terms are checked in sorted order, so the first bad one named is the smallest.
        #expect(throws: SelectorError(#""a" is not a known field selector: only "metadata.name", "metadata.namespace""#)) {
            try FieldSelector(parsing: "z=1,a=1").validate(resource: "services")
        }
    }
}
