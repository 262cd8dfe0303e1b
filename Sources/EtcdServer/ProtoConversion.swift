import BTreeStore
import EtcdProto
import Foundation

// The gRPC messages and the store's own request and response types, both ways. The store keeps
// its own types so it stays free of protobuf and Foundation.

extension RangeRequest {
    init(_ proto: Etcdserverpb_RangeRequest) {
        self.init(key: [UInt8](proto.key), rangeEnd: [UInt8](proto.rangeEnd), limit: proto.limit,
                  revision: proto.revision)
        sortOrder = SortOrder(rawValue: proto.sortOrder.rawValue) ?? .none
        sortTarget = SortTarget(rawValue: proto.sortTarget.rawValue) ?? .key
        keysOnly = proto.keysOnly
        countOnly = proto.countOnly
        minModRevision = proto.minModRevision
        maxModRevision = proto.maxModRevision
        minCreateRevision = proto.minCreateRevision
        maxCreateRevision = proto.maxCreateRevision
    }
}

extension PutRequest {
    init(_ proto: Etcdserverpb_PutRequest) {
        self.init(key: [UInt8](proto.key), value: [UInt8](proto.value), lease: proto.lease, prevKV: proto.prevKv)
        ignoreValue = proto.ignoreValue
        ignoreLease = proto.ignoreLease
    }
}

extension DeleteRangeRequest {
    init(_ proto: Etcdserverpb_DeleteRangeRequest) {
        self.init(key: [UInt8](proto.key), rangeEnd: [UInt8](proto.rangeEnd), prevKV: proto.prevKv)
    }
}

extension Compare {
    init(_ proto: Etcdserverpb_Compare) {
        let target: Target
        switch proto.target {
        case .version: target = .version(proto.version)
        case .create: target = .createRevision(proto.createRevision)
        case .mod: target = .modRevision(proto.modRevision)
        case .value: target = .value([UInt8](proto.value))
        case .lease: target = .lease(proto.lease)
        case .UNRECOGNIZED: target = .version(proto.version)
        }
        self.init(key: [UInt8](proto.key), rangeEnd: [UInt8](proto.rangeEnd), target: target,
                  result: Result(rawValue: proto.result.rawValue) ?? .equal)
    }
}

extension TxnRequest {
    init(_ proto: Etcdserverpb_TxnRequest) {
        self.init(compare: proto.compare.map(Compare.init),
                  success: proto.success.compactMap(RequestOp.init),
                  failure: proto.failure.compactMap(RequestOp.init))
    }
}

extension RequestOp {
    /// nil for an empty operation (etcd's API check rejects those before they get here).
    init?(_ proto: Etcdserverpb_RequestOp) {
        switch proto.request {
        case .requestRange(let range): self = .range(RangeRequest(range))
        case .requestPut(let put): self = .put(PutRequest(put))
        case .requestDeleteRange(let delete): self = .deleteRange(DeleteRangeRequest(delete))
        case .requestTxn(let txn): self = .txn(TxnRequest(txn))
        case nil: return nil
        }
    }
}

extension Mvccpb_KeyValue {
    init(_ kv: KeyValue) {
        self.init()
        key = Data(kv.key)
        value = Data(kv.value)
        createRevision = kv.createRevision
        modRevision = kv.modRevision
        version = kv.version
        lease = kv.lease
    }
}

extension Mvccpb_Event {
    init(_ event: Event) {
        self.init()
        type = event.type == .put ? .put : .delete
        kv = Mvccpb_KeyValue(event.kv)
        if let previous = event.prevKV { prevKv = Mvccpb_KeyValue(previous) }
    }
}

extension Etcdserverpb_RangeResponse {
    init(_ response: RangeResponse, header: Etcdserverpb_ResponseHeader) {
        self.init()
        self.header = header
        kvs = response.kvs.map(Mvccpb_KeyValue.init)
        more = response.more
        count = response.count
    }
}

extension Etcdserverpb_PutResponse {
    init(_ response: PutResponse, header: Etcdserverpb_ResponseHeader) {
        self.init()
        self.header = header
        if let previous = response.prevKV { prevKv = Mvccpb_KeyValue(previous) }
    }
}

extension Etcdserverpb_DeleteRangeResponse {
    init(_ response: DeleteRangeResponse, header: Etcdserverpb_ResponseHeader) {
        self.init()
        self.header = header
        deleted = response.deleted
        prevKvs = response.prevKVs.map(Mvccpb_KeyValue.init)
    }
}

extension Etcdserverpb_TxnResponse {
    /// Nested responses carry only the revision in their headers, as etcd's do.
    init(_ response: TxnResponse, header: Etcdserverpb_ResponseHeader) {
        self.init()
        self.header = header
        succeeded = response.succeeded
        var header = Etcdserverpb_ResponseHeader()
        header.revision = self.header.revision
        responses = response.responses.map { op in
            var proto = Etcdserverpb_ResponseOp()
            switch op {
            case .range(let range): proto.responseRange = Etcdserverpb_RangeResponse(range, header: header)
            case .put(let put): proto.responsePut = Etcdserverpb_PutResponse(put, header: header)
            case .deleteRange(let delete):
                proto.responseDeleteRange = Etcdserverpb_DeleteRangeResponse(delete, header: header)
            case .txn(let txn): proto.responseTxn = Etcdserverpb_TxnResponse(txn, header: header)
            }
            return proto
        }
    }
}

extension Etcdserverpb_TxnRequest {
    /// Whether any operation, at any depth, writes: those go through Raft, the rest are reads.
    var hasWrites: Bool {
        (success + failure).contains { op in
            switch op.request {
            case .requestPut, .requestDeleteRange: true
            case .requestTxn(let nested): nested.hasWrites
            case .requestRange, nil: false
            }
        }
    }

    /// Whether any operation, at any depth, puts: what a NOSPACE alarm refuses.
    var hasPuts: Bool { putCost.count > 0 }

    /// How many puts, at any depth, and their key and value bytes: what the space quota charges.
    var putCost: (count: Int, bytes: Int) {
        (success + failure).reduce(into: (0, 0)) { total, op in
            switch op.request {
            case .requestPut(let put):
                total.0 += 1
                total.1 += put.key.count + put.value.count
            case .requestTxn(let nested):
                let cost = nested.putCost
                total.0 += cost.count
                total.1 += cost.bytes
            case .requestRange, .requestDeleteRange, nil: break
            }
        }
    }
}
