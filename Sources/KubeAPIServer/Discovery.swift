import KubeAPI

/// The discovery documents kubectl reads before anything else (`/api`, `/apis`, and each group
/// version's resources with their kinds, verbs, short names and subresources), and `/version`.
enum Discovery {
    /// The Kubernetes release whose API this server speaks: kubectl 1.20 warns about a skew of more than one.
    static let version: JSONValue = [
        "major": "1", "minor": "20", "gitVersion": "v1.20.2", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "2026-11-27T00:00:00Z", "goVersion": "swift", "compiler": "swift", "platform": "linux/amd64",
    ]

    static let coreVersions: JSONValue = [
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": ""]],
    ]

    static func group(_ name: String) -> JSONValue {
        let version: JSONValue = ["groupVersion": .string("\(name)/v1"), "version": "v1"]
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": [version],
                "preferredVersion": version]
    }

    static var groupList: JSONValue {
        ["kind": "APIGroupList", "apiVersion": "v1",
         "groups": .array(ResourceCatalog.groups.map { group in
             var entry = Self.group(group)
             entry["kind"] = nil
             entry["apiVersion"] = nil
             return entry
         })]
    }

    static func resourceList(group: String) -> JSONValue {
        var resources: [JSONValue] = []
        for resource in ResourceCatalog.all where resource.group == group {
            var entry: JSONValue = [
                "name": .string(resource.plural), "singularName": "", "namespaced": .bool(resource.namespaced),
                "kind": .string(resource.kind), "verbs": .array(resource.verbs.map { .string($0) }),
            ]
            if !resource.shortNames.isEmpty { entry["shortNames"] = .array(resource.shortNames.map { .string($0) }) }
            if resource.inCategoryAll { entry["categories"] = ["all"] }
            resources.append(entry)
            for subresource in resource.subresources {
                var sub: JSONValue = ["name": .string("\(resource.plural)/\(subresource)"), "singularName": "",
                                      "namespaced": .bool(resource.namespaced)]
                switch subresource {
                case "scale":
                    sub["group"] = "autoscaling"
                    sub["version"] = "v1"
                    sub["kind"] = "Scale"
                    sub["verbs"] = ["get", "patch", "update"]
                case "binding":
                    sub["kind"] = "Binding"
                    sub["verbs"] = ["create"]
                case "log":
                    sub["kind"] = "Pod"
                    sub["verbs"] = ["get"]
                default:
                    sub["kind"] = .string(resource.kind)
                    sub["verbs"] = ["get", "patch", "update"]
                }
                resources.append(sub)
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? "v1" : "\(group)/v1"),
                "resources": .array(resources)]
    }
}
