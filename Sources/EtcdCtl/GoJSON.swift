import EtcdProto
import Foundation

/// JSON written the way Go's encoding/json writes etcd's response structs, which is what
/// `etcdctl -w json` prints: fields in declaration order, `omitempty` dropping zero values, byte
/// strings in base64, 64-bit integers as plain numbers, and <, >, & escaped.
struct GoJSONObject {
    private var fields: [String] = []

    mutating func raw(_ name: String, _ json: String) {
        fields.append("\(GoJSONObject.quote(name)):\(json)")
    }

    mutating func int<Number: BinaryInteger>(_ name: String, _ value: Number, omitEmpty: Bool = true) {
        if omitEmpty && value == 0 { return }
        raw(name, "\(value)")
    }

    mutating func bool(_ name: String, _ value: Bool, omitEmpty: Bool = true) {
        if omitEmpty && !value { return }
        raw(name, value ? "true" : "false")
    }

    mutating func string(_ name: String, _ value: String, omitEmpty: Bool = true) {
        if omitEmpty && value.isEmpty { return }
        raw(name, GoJSONObject.quote(value))
    }

    mutating func bytes(_ name: String, _ value: Data, omitEmpty: Bool = true) {
        if omitEmpty && value.isEmpty { return }
        raw(name, "\"\(value.base64EncodedString())\"")
    }

    mutating func object(_ name: String, _ value: GoJSONObject?) {
        guard let value else { return }
        raw(name, value.text)
    }

    /// An array of already-encoded values; omitted when empty unless `omitEmpty` is false (then `null`,
    /// as Go writes a nil slice).
    mutating func array(_ name: String, _ values: [String], omitEmpty: Bool = true) {
        if values.isEmpty {
            if !omitEmpty { raw(name, "null") }
            return
        }
        raw(name, "[" + values.joined(separator: ",") + "]")
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    /// A Go JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The JSON of etcd's protobuf messages as etcdctl prints them.
enum EtcdJSON {
    static func header(_ header: Etcdserverpb_ResponseHeader) -> GoJSONObject {
        var object = GoJSONObject()
        addHeaderFields(header, to: &object)
        return object
    }

    /// A header's fields inline, as Go writes an embedded `*pb.ResponseHeader` (lease responses).
    static func addHeaderFields(_ header: Etcdserverpb_ResponseHeader, to object: inout GoJSONObject) {
        object.int("cluster_id", header.clusterID)
        object.int("member_id", header.memberID)
        object.int("revision", header.revision)
        object.int("raft_term", header.raftTerm)
    }

    static func keyValue(_ kv: Mvccpb_KeyValue) -> GoJSONObject {
        var object = GoJSONObject()
        object.bytes("key", kv.key)
        object.int("create_revision", kv.createRevision)
        object.int("mod_revision", kv.modRevision)
        object.int("version", kv.version)
        object.bytes("value", kv.value)
        object.int("lease", kv.lease)
        return object
    }

    static func range(_ response: Etcdserverpb_RangeResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.array("kvs", response.kvs.map { keyValue($0).text })
        object.bool("more", response.more)
        object.int("count", response.count)
        return object
    }

    static func put(_ response: Etcdserverpb_PutResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.object("prev_kv", response.hasPrevKv ? keyValue(response.prevKv) : nil)
        return object
    }

    static func delete(_ response: Etcdserverpb_DeleteRangeResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.int("deleted", response.deleted)
        object.array("prev_kvs", response.prevKvs.map { keyValue($0).text })
        return object
    }

    static func txn(_ response: Etcdserverpb_TxnResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.bool("succeeded", response.succeeded)
        object.array("responses", response.responses.map { op in
            var inner = GoJSONObject()
            switch op.response {
            case .responseRange(let range): inner.object("ResponseRange", EtcdJSON.range(range))
            case .responsePut(let put): inner.object("ResponsePut", EtcdJSON.put(put))
            case .responseDeleteRange(let delete): inner.object("ResponseDeleteRange", EtcdJSON.delete(delete))
            case .responseTxn(let txn): inner.object("ResponseTxn", EtcdJSON.txn(txn))
            case .none: break
            }
            var wrapper = GoJSONObject()
            wrapper.object("Response", inner)
            return wrapper.text
        })
        return object
    }

    static func event(_ event: Mvccpb_Event) -> GoJSONObject {
        var object = GoJSONObject()
        object.int("type", event.type.rawValue)
        object.object("kv", event.hasKv ? keyValue(event.kv) : nil)
        object.object("prev_kv", event.hasPrevKv ? keyValue(event.prevKv) : nil)
        return object
    }

    /// clientv3's WatchResponse struct (no JSON tags: Go field names, nothing omitted).
    static func watch(_ response: Etcdserverpb_WatchResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("Header", header(response.header))
        object.array("Events", response.events.map { event($0).text }, omitEmpty: false)
        object.int("CompactRevision", response.compactRevision, omitEmpty: false)
        object.bool("Canceled", response.canceled, omitEmpty: false)
        object.bool("Created", response.created, omitEmpty: false)
        return object
    }

    static func member(_ member: Etcdserverpb_Member) -> GoJSONObject {
        var object = GoJSONObject()
        object.int("ID", member.id)
        object.string("name", member.name)
        object.array("peerURLs", member.peerUrls.map(GoJSONObject.quote))
        object.array("clientURLs", member.clientUrls.map(GoJSONObject.quote))
        object.bool("isLearner", member.isLearner)
        return object
    }

    static func status(_ response: Etcdserverpb_StatusResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.string("version", response.version)
        object.int("dbSize", response.dbSize)
        object.int("leader", response.leader)
        object.int("raftIndex", response.raftIndex)
        object.int("raftTerm", response.raftTerm)
        object.int("raftAppliedIndex", response.raftAppliedIndex)
        object.array("errors", response.errors.map(GoJSONObject.quote))
        object.int("dbSizeInUse", response.dbSizeInUse)
        object.bool("isLearner", response.isLearner)
        return object
    }

    static func hashKV(_ response: Etcdserverpb_HashKVResponse) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", response.hasHeader ? header(response.header) : nil)
        object.int("hash", response.hash)
        object.int("compact_revision", response.compactRevision)
        return object
    }

    static func headerOnly(_ header: Etcdserverpb_ResponseHeader, present: Bool) -> GoJSONObject {
        var object = GoJSONObject()
        object.object("header", present ? EtcdJSON.header(header) : nil)
        return object
    }
}
