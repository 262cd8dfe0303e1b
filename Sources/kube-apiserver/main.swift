import Foundation
import KubeAPI
import KubeHTTP
import KubeAPIServer

// kube-apiserver over our etcd: Kubernetes' REST API for kubectl, plain HTTP on the insecure
// port as kube-apiserver served it (no authentication).

let flags = ComponentFlags(component: "kube-apiserver", known: ["--etcd-servers", "--insecure-bind-address", "--insecure-port", "--event-ttl"], usage: """
    usage: kube-apiserver [--etcd-servers URLS] [--insecure-bind-address ADDR] [--insecure-port PORT] [--event-ttl SECONDS]

      --etcd-servers           comma-separated etcd client URLs (default http://127.0.0.1:2379)
      --insecure-bind-address  address to serve on (default 127.0.0.1)
      --insecure-port          port to serve on (default 8080; 0 picks one and prints it)
      --event-ttl              seconds an Event is kept (default 3600)
    """)
let store = flags.store()
let host = flags["--insecure-bind-address"] ?? "127.0.0.1"
do {
    try await SystemNamespaces.ensure(in: store)
} catch {
    FileHandle.standardError.write(Data("kube-apiserver: cannot reach etcd: \(error)\n".utf8))
    exit(1)
}
let port = flags.number("--insecure-port", default: 8080)
let server: HTTPServer
do {
    server = try await HTTPServer.bind(host: host, port: port)
} catch {
    FileHandle.standardError.write(Data("kube-apiserver: cannot serve on \(host):\(port): \(error)\n".utf8))
    exit(1)
}
FileHandle.standardOutput.write(Data("kube-apiserver: serving on http://\(host):\(server.port)\n".utf8))
let api = APIServer(store: store)
try await server.run { request in await api.handle(request) }
