import Foundation
import KubeAPI
import KubeHTTP

/// The `pods/log` subresource: the container is chosen (the only one, or the one named), then the
/// request is passed to the agent of the pod's node, at the address and port its Node reports,
/// and the agent's answer streamed back (`kubectl logs`, `--previous`, `--tail`, `-f`).
enum PodLogs {
    static func proxy(_ request: HTTPRequest, store: ObjectStore, namespace: String, pod name: String) async throws(APIError) -> HTTPResponse {
        let pods = ResourceCatalog.find(group: "", plural: "pods")!
        let pod = try await store.get(pods, namespace: namespace, name: name)
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let container: String
        if let named = request.query["container"], !named.isEmpty {
            guard containers.contains(named) else { throw APIError.badRequest("container \(named) is not valid for pod \(name)") }
            container = named
        } else if containers.count == 1 {
            container = containers[0]
        } else {
            throw APIError.badRequest("a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]")
        }
        guard let nodeName = pod[path: ["spec", "nodeName"]]?.stringValue, !nodeName.isEmpty else {
            throw APIError.badRequest("container \"\(container)\" in pod \"\(name)\" is waiting to start: ContainerCreating")
        }
        let nodes = ResourceCatalog.find(group: "", plural: "nodes")!
        let node = try await store.get(nodes, namespace: nil, name: nodeName)
        let port = Int(node[path: ["status", "daemonEndpoints", "kubeletEndpoint", "Port"]]?.intValue ?? 0)
        guard port > 0 else {
            throw APIError.badRequest("node \(nodeName) serves no container logs (its agent runs no containers)")
        }
        let address = (node[path: ["status", "addresses"]]?.arrayValue ?? []).first { $0["type"] == "InternalIP" }?["address"]?.stringValue
            ?? "127.0.0.1"
        var query: [String] = []
        for field in ["previous", "tailLines", "follow", "limitBytes"] {
            if let value = request.query[field] { query.append("\(field)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)") }
        }
        let path = "/containerLogs/\(namespace)/\(name)/\(container)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let answer: HTTPClient.Response
        do {
            answer = try await HTTPClient.get(host: address, port: port, uri: path)
        } catch {
            throw APIError.internalError("Get \"http://\(address):\(port)\(path)\": \(error)")
        }
        guard answer.status == .ok else {
            var message: [UInt8] = []
            for await chunk in answer.body { message += chunk }
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if answer.status == .notFound { throw APIError(code: 404, reason: "NotFound", message: text) }
            throw APIError.badRequest(text)
        }
        if request.query["follow"] == "true" { return .stream(contentType: "text/plain", chunks: answer.body) }
        var body: [UInt8] = []
        for await chunk in answer.body { body += chunk }
        return .full(status: .ok, contentType: "text/plain", body: body)
    }
}
