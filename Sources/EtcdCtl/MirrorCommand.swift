import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// `etcdctl make-mirror [options] <destination>`: copies the source's keys (all, or under
/// `--prefix`) to the destination at one revision, then applies every later change there, one
/// transaction per source revision, until interrupted. Every 30 s it prints how many keys and
/// events it has copied, as etcdctl does.
enum MirrorCommand {
    static let flags: [FlagSpec] = [
        .init(name: "prefix", kind: .value, defaultValue: ""),
        .init(name: "dest-prefix", kind: .value, defaultValue: ""),
        .init(name: "no-dest-prefix", kind: .bool, defaultValue: "false"),
        .init(name: "dest-cert", kind: .value, defaultValue: ""),
        .init(name: "dest-key", kind: .value, defaultValue: ""),
        .init(name: "dest-cacert", kind: .value, defaultValue: ""),
        .init(name: "dest-insecure-transport", kind: .bool, defaultValue: "true"),
    ]

    /// etcd's mirror syncer reads the base in pages of this many keys.
    static let pageSize: Int64 = 1000

    static func run(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("make-mirror takes one destination argument")
        }
        let prefix = invocation.flags["prefix"]
        var destinationPrefix = invocation.flags["dest-prefix"]
        if invocation.flags.bool("no-dest-prefix") && !destinationPrefix.isEmpty {
            throw CommandError.badArguments("`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one")
        }
        if !invocation.flags.bool("no-dest-prefix") && destinationPrefix.isEmpty { destinationPrefix = prefix }
        // etcdctl's strings.Replace(key, prefix, destination, 1).
        func renamed(_ key: Data) -> Data {
            let bytes = [UInt8](key), old = [UInt8](prefix.utf8), new = [UInt8](destinationPrefix.utf8)
            guard let start = old.isEmpty ? 0 : bytes.firstRange(of: old)?.lowerBound else { return key }
            return Data(bytes[..<start] + new + bytes[(start + old.count)...])
        }

        let source = try invocation.client()
        let destinationTLS = try invocation.tlsConfiguration(cert: "dest-cert", key: "dest-key", cacert: "dest-cacert",
                                                             insecureTransport: "dest-insecure-transport", global: false)
        let destination = try invocation.client(endpoints: invocation.arguments, tls: .some(destinationTLS))
        let total = Atomic<Int>(0)
        let reporter = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(30))
                print(total.load(ordering: .relaxed))
                flushStandardOutput()
            }
        }
        defer { reporter.cancel() }
        do {
            let revision = try await source.get("foo").header.revision
            var range = Etcdserverpb_RangeRequest()
            if prefix.isEmpty {
                range.key = Data([0])
                range.rangeEnd = Data([0])
            } else {
                range.key = Data(prefix.utf8)
                range.rangeEnd = prefixRangeEnd(range.key)
            }
            range.revision = revision
            range.limit = pageSize
            while true {
                let page = try await source.range(range)
                for kv in page.kvs {
                    var put = Etcdserverpb_PutRequest()
                    put.key = renamed(kv.key)
                    put.value = kv.value
                    _ = try await destination.put(put)
                    total.add(1, ordering: .relaxed)
                }
                guard page.more, let last = page.kvs.last else { break }
                range.key = last.key + Data([0])
            }

            var watch = Etcdserverpb_WatchCreateRequest()
            watch.key = prefix.isEmpty ? Data([0]) : Data(prefix.utf8)
            watch.rangeEnd = prefix.isEmpty ? Data([0]) : prefixRangeEnd(watch.key)
            watch.startRevision = revision + 1
            for try await response in source.watch(watch) {
                // One transaction per source revision, so the destination sees each change whole.
                var operations: [Etcdserverpb_RequestOp] = []
                var revisionOfOperations: Int64 = 0
                for event in response.events {
                    if !operations.isEmpty && event.kv.modRevision > revisionOfOperations {
                        _ = try await destination.txn(Etcdserverpb_TxnRequest.with { $0.success = operations })
                        operations = []
                    }
                    revisionOfOperations = event.kv.modRevision
                    var operation = Etcdserverpb_RequestOp()
                    if event.type == .put {
                        operation.requestPut = .with { $0.key = renamed(event.kv.key); $0.value = event.kv.value }
                    } else {
                        operation.requestDeleteRange = .with { $0.key = renamed(event.kv.key) }
                    }
                    operations.append(operation)
                    total.add(1, ordering: .relaxed)
                }
                if !operations.isEmpty {
                    _ = try await destination.txn(Etcdserverpb_TxnRequest.with { $0.success = operations })
                }
            }
        } catch {
            await destination.close()
            throw CommandError.failed(failure(error).message)
        }
        await destination.close()
    }
}
