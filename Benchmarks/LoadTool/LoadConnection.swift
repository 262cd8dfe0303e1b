import ArgumentParser
import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC

/// One connection of the load: etcd's KV calls over `GRPCClientConnection`, the lean client.
/// The load tool shares the machine's cores with the server it measures, so every microsecond
/// it spends per request is taken from the server; EtcdClient (grpc-swift's client, with
/// retries and failover) cost several times the server's own CPU per request.
struct LoadConnection: Sendable {
    let connection: GRPCClientConnection

    static func connect(_ endpoint: String) async throws -> LoadConnection {
        if endpoint.hasPrefix("https://") {
            throw ValidationError("endpoint \(endpoint): the load tool's connections are plaintext only")
        }
        var address = Substring(endpoint)
        if address.hasPrefix("http://") { address = address.dropFirst("http://".count) }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ValidationError("endpoint \(endpoint) is not host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        return LoadConnection(connection: try await .connect(host: host, port: port))
    }

    @discardableResult
    func put(_ key: Data, _ value: Data) async throws -> Etcdserverpb_PutResponse {
        try await connection.unary("/etcdserverpb.KV/Put", Etcdserverpb_PutRequest.with {
            $0.key = key
            $0.value = value
        })
    }

    func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await connection.unary("/etcdserverpb.KV/Range", request)
    }

    func get(_ key: Data, serializable: Bool = false) async throws -> Etcdserverpb_RangeResponse {
        try await range(.with {
            $0.key = key
            $0.serializable = serializable
        })
    }

    @discardableResult
    func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await connection.unary("/etcdserverpb.KV/Txn", request)
    }

    func leaseGrant(ttl: Int64) async throws -> Etcdserverpb_LeaseGrantResponse {
        try await connection.unary("/etcdserverpb.Lease/LeaseGrant", Etcdserverpb_LeaseGrantRequest.with { $0.ttl = ttl })
    }

    /// One keep-alive of lease `id` on a stream of its own, as etcd's client's KeepAliveOnce:
    /// the request, then the end of the request side, then the one answer.
    func leaseKeepAliveOnce(_ id: Int64) async throws -> Etcdserverpb_LeaseKeepAliveResponse {
        try await connection.unary("/etcdserverpb.Lease/LeaseKeepAlive", Etcdserverpb_LeaseKeepAliveRequest.with { $0.id = id })
    }

    func status() async throws -> Etcdserverpb_StatusResponse {
        try await connection.unary("/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest())
    }

    func close() async {
        await connection.close()
    }
}

extension Etcdserverpb_RequestOp {
    static func put(_ key: Data, _ value: Data) -> Etcdserverpb_RequestOp {
        .with { $0.requestPut = .with { $0.key = key; $0.value = value } }
    }
}
