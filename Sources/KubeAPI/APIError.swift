/// A failed request as Kubernetes reports it: an HTTP code, a machine-readable reason, and a
/// message worded as kube-apiserver words it (kubectl prints the message, and its callers branch
/// on the reason).
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: JSONValue?

    public init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var description: String { message }

    /// The `Status` object sent as the response body.
    public var status: JSONValue {
        var status: JSONValue = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details { status["details"] = details }
        return status
    }

    static func details(_ resource: ResourceType, _ name: String) -> JSONValue {
        var details: JSONValue = ["name": .string(name), "kind": .string(resource.plural)]
        if !resource.group.isEmpty { details["group"] = .string(resource.group) }
        return details
    }

    public static func notFound(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(resource.qualifiedName) \"\(name)\" not found",
                 details: details(resource, name))
    }

    public static func alreadyExists(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(resource.qualifiedName) \"\(name)\" already exists",
                 details: details(resource, name))
    }

    public static func conflict(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(resource.qualifiedName) \"\(name)\": the object has been "
                    + "modified; please apply your changes to the latest version and try again",
                 details: details(resource, name))
    }

    /// A field that fails validation: `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: ...`.
    public static func invalid(_ resource: ResourceType, _ name: String, field: String, _ problem: String) -> APIError {
        let qualifiedKind = resource.group.isEmpty ? resource.kind : "\(resource.kind).\(resource.group)"
        var details = details(resource, name)
        details["kind"] = .string(resource.kind)
        details["causes"] = [["reason": "FieldValueInvalid", "message": .string(problem), "field": .string(field)]]
        return APIError(code: 422, reason: "Invalid", message: "\(qualifiedKind) \"\(name)\" is invalid: \(field): \(problem)",
                        details: details)
    }

    public static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    public static func methodNotAllowed(_ message: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: message)
    }

    /// A watch or a continued list from a revision etcd has compacted away.
    public static func expired(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    public static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got \(type)")
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)")
    }

    /// The store did not answer in time (an etcd member down, no leader).
    public static func timeout(_ message: String) -> APIError {
        APIError(code: 504, reason: "Timeout", message: message)
    }

    public static func pathNotFound() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
    }
}
