import EtcdProto
import Foundation
import SwiftProtobuf

/// etcdctl's output formats (`-w`).
enum OutputFormat: String {
    case simple, json, fields, table, protobuf
}

/// Prints responses the way etcdctl 3.4 prints them in each output format.
struct Display {
    var format: OutputFormat
    var hex: Bool
    var valueOnly = false

    // MARK: Key-value

    func get(_ response: Etcdserverpb_RangeResponse) throws(CommandError) {
        switch format {
        case .simple: response.kvs.forEach(simpleKV)
        case .json: out(EtcdJSON.range(response).text)
        case .fields:
            fieldsHeader(response.header)
            response.kvs.forEach { fieldsKV("", $0) }
            out("\"More\" : \(response.more)")
            out("\"Count\" : \(response.count)")
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func put(_ response: Etcdserverpb_PutResponse) throws(CommandError) {
        switch format {
        case .simple:
            out("OK")
            if response.hasPrevKv { simpleKV(response.prevKv) }
        case .json: out(EtcdJSON.put(response).text)
        case .fields:
            fieldsHeader(response.header)
            if response.hasPrevKv { fieldsKV("Prev", response.prevKv) }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func delete(_ response: Etcdserverpb_DeleteRangeResponse) throws(CommandError) {
        switch format {
        case .simple:
            out("\(response.deleted)")
            response.prevKvs.forEach(simpleKV)
        case .json: out(EtcdJSON.delete(response).text)
        case .fields:
            fieldsHeader(response.header)
            out("\"Deleted\" : \(response.deleted)")
            response.prevKvs.forEach { fieldsKV("Prev", $0) }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func txn(_ response: Etcdserverpb_TxnResponse) throws(CommandError) {
        switch format {
        case .simple:
            out(response.succeeded ? "SUCCESS" : "FAILURE")
            for op in response.responses {
                out("")
                switch op.response {
                case .responseRange(let range): try get(range)
                case .responsePut(let put): try self.put(put)
                case .responseDeleteRange(let delete): try self.delete(delete)
                case .responseTxn, .none: out("unexpected response \(op)")
                }
            }
        case .json: out(EtcdJSON.txn(response).text)
        case .fields:
            fieldsHeader(response.header)
            out("\"Succeeded\" : \(response.succeeded)")
            for op in response.responses {
                switch op.response {
                case .responseRange(let range): try get(range)
                case .responsePut(let put): try self.put(put)
                case .responseDeleteRange(let delete): try self.delete(delete)
                case .responseTxn, .none: out("\"Unknown\" : \"\(op)\"")
                }
            }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func watch(_ response: Etcdserverpb_WatchResponse) throws(CommandError) {
        switch format {
        case .simple:
            for event in response.events {
                out(event.type == .put ? "PUT" : "DELETE")
                if event.hasPrevKv { simpleKV(event.prevKv) }
                simpleKV(event.kv)
            }
        case .json: out(EtcdJSON.watch(response).text)
        case .fields:
            fieldsHeader(response.header)
            for event in response.events {
                out("\"Type\" : \(event.type == .put ? "PUT" : "DELETE")")
                if event.hasPrevKv { fieldsKV("Prev", event.prevKv) }
                fieldsKV("", event.kv)
            }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
        flushStandardOutput()
    }

    func compaction(_ revision: Int64) {
        out("compacted revision \(revision)")
    }

    // MARK: Leases

    func grant(_ response: Etcdserverpb_LeaseGrantResponse) throws(CommandError) {
        switch format {
        case .simple: out("lease \(hex16(response.id)) granted with TTL(\(response.ttl)s)")
        case .json, .fields: leaseTTL(response.header, id: response.id, ttl: response.ttl, error: response.error)
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    /// clientv3's lease grant and keep-alive responses: the header embedded, then ID and TTL (and
    /// the grant's Error).
    private func leaseTTL(_ header: Etcdserverpb_ResponseHeader, id: Int64, ttl: Int64, error: String?) {
        if format == .json {
            var object = GoJSONObject()
            EtcdJSON.addHeaderFields(header, to: &object)
            object.int("ID", id, omitEmpty: false)
            object.int("TTL", ttl, omitEmpty: false)
            if let error { object.string("Error", error, omitEmpty: false) }
            out(object.text)
        } else {
            fieldsHeader(header)
            out("\"ID\" : \(id)")
            out("\"TTL\" : \(ttl)")
        }
    }

    func revoke(_ id: Int64, _ response: Etcdserverpb_LeaseRevokeResponse) throws(CommandError) {
        switch format {
        case .simple: out("lease \(hex16(id)) revoked")
        case .json: out(EtcdJSON.headerOnly(response.header, present: response.hasHeader).text)
        case .fields: fieldsHeader(response.header)
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func keepAlive(_ response: Etcdserverpb_LeaseKeepAliveResponse) throws(CommandError) {
        switch format {
        case .simple: out("lease \(hex16(response.id)) keepalived with TTL(\(response.ttl))")
        case .json, .fields: leaseTTL(response.header, id: response.id, ttl: response.ttl, error: nil)
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
        flushStandardOutput()
    }

    func timeToLive(_ response: Etcdserverpb_LeaseTimeToLiveResponse, keys: Bool) throws(CommandError) {
        switch format {
        case .simple:
            if response.grantedTtl == 0 && response.ttl == -1 {
                out("lease \(hex16(response.id)) already expired")
                return
            }
            var text = "lease \(hex16(response.id)) granted with TTL(\(response.grantedTtl)s), remaining(\(response.ttl)s)"
            if keys {
                text += ", attached keys([\(response.keys.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " "))])"
            }
            out(text)
        case .json:
            var object = GoJSONObject()
            EtcdJSON.addHeaderFields(response.header, to: &object)
            object.int("id", response.id, omitEmpty: false)
            object.int("ttl", response.ttl, omitEmpty: false)
            object.int("granted-ttl", response.grantedTtl, omitEmpty: false)
            object.array("keys", response.keys.map { "\"\($0.base64EncodedString())\"" }, omitEmpty: false)
            out(object.text)
        case .fields:
            fieldsHeader(response.header)
            out("\"ID\" : \(response.id)")
            out("\"TTL\" : \(response.ttl)")
            out("\"GrantedTTL\" : \(response.grantedTtl)")
            response.keys.forEach { out("\"Key\" : \(goQuote($0))") }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func leases(_ response: Etcdserverpb_LeaseLeasesResponse) throws(CommandError) {
        switch format {
        case .simple:
            out("found \(response.leases.count) leases")
            response.leases.forEach { out(hex16($0.id)) }
        case .json:
            var object = GoJSONObject()
            EtcdJSON.addHeaderFields(response.header, to: &object)
            object.array("leases", response.leases.map { lease in
                var item = GoJSONObject()
                item.int("id", lease.id, omitEmpty: false)
                return item.text
            }, omitEmpty: false)
            out(object.text)
        case .fields:
            fieldsHeader(response.header)
            response.leases.forEach { out("\"ID\" : \($0.id)") }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    // MARK: Members

    func memberList(_ response: Etcdserverpb_MemberListResponse) throws(CommandError) {
        let rows = response.members.map { member in
            [String(member.id, radix: 16), member.name.isEmpty ? "unstarted" : "started", member.name,
             member.peerUrls.joined(separator: ","), member.clientUrls.joined(separator: ","),
             member.isLearner ? "true" : "false"]
        }
        switch format {
        case .simple: rows.forEach { out($0.joined(separator: ", ")) }
        case .table: table(header: ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"], rows: rows)
        case .json:
            var object = GoJSONObject()
            object.object("header", response.hasHeader ? EtcdJSON.header(response.header) : nil)
            object.array("members", response.members.map { EtcdJSON.member($0).text })
            out(object.text)
        case .fields:
            fieldsHeader(response.header)
            for member in response.members {
                out("\"ID\" : \(member.id)")
                out("\"Name\" : \(goQuote(member.name))")
                member.peerUrls.forEach { out("\"PeerURL\" : \(goQuote($0))") }
                member.clientUrls.forEach { out("\"ClientURL\" : \(goQuote($0))") }
                out("\"IsLearner\" : \(member.isLearner)")
                out("")
            }
        case .protobuf: try protobuf(response)
        }
    }

    /// The answer of member add, remove, update and promote.
    func memberChanged(_ verb: String, id: UInt64, header: Etcdserverpb_ResponseHeader, added: Etcdserverpb_Member? = nil,
                       members: [Etcdserverpb_Member], response: some SwiftProtobuf.Message) throws(CommandError) {
        switch format {
        case .simple: out("Member \(hex16Spaced(id)) \(verb) cluster \(hex16Spaced(header.clusterID))")
        case .json:
            var json = GoJSONObject()
            json.object("header", EtcdJSON.header(header))
            json.object("member", added.map(EtcdJSON.member))
            json.array("members", members.map { EtcdJSON.member($0).text })
            out(json.text)
        case .fields: fieldsHeader(header)
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    // MARK: Endpoints

    struct EndpointHealth {
        var endpoint: String
        var healthy: Bool
        var took: String
        var error: String
    }

    func endpointHealth(_ results: [EndpointHealth]) throws(CommandError) {
        switch format {
        case .simple:
            for result in results {
                if result.error.isEmpty {
                    err("\(result.endpoint) is healthy: successfully committed proposal: took = \(result.took)")
                } else {
                    err("\(result.endpoint) is unhealthy: failed to commit proposal: \(result.error)")
                }
            }
        case .json:
            out("[" + results.map { result in
                var object = GoJSONObject()
                object.string("endpoint", result.endpoint, omitEmpty: false)
                object.bool("health", result.healthy, omitEmpty: false)
                object.string("took", result.took, omitEmpty: false)
                object.string("error", result.error)
                return object.text
            }.joined(separator: ",") + "]")
        case .fields:
            for result in results {
                out("\"Endpoint\" : \(goQuote(result.endpoint))")
                out("\"Health\" : \(result.healthy)")
                out("\"Took\" : \(result.took)")
                out("\"Error\" : \(result.error)")
                out("")
            }
        case .table:
            table(header: ["endpoint", "health", "took", "error"],
                  rows: results.map { [$0.endpoint, "\($0.healthy)", $0.took, $0.error] })
        case .protobuf: throw unsupported()
        }
    }

    func endpointStatus(_ results: [(endpoint: String, status: Etcdserverpb_StatusResponse)]) throws(CommandError) {
        let rows = results.map { endpoint, status in
            [endpoint, String(status.header.memberID, radix: 16), status.version, humanizeBytes(UInt64(status.dbSize)),
             "\(status.leader == status.header.memberID)", "\(status.isLearner)", "\(status.raftTerm)",
             "\(status.raftIndex)", "\(status.raftAppliedIndex)", status.errors.joined(separator: ", ")]
        }
        switch format {
        case .simple: rows.forEach { out($0.joined(separator: ", ")) }
        case .table:
            table(header: ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term",
                           "raft index", "raft applied index", "errors"], rows: rows)
        case .json:
            out("[" + results.map { endpoint, status in
                var object = GoJSONObject()
                object.string("Endpoint", endpoint, omitEmpty: false)
                object.object("Status", EtcdJSON.status(status))
                return object.text
            }.joined(separator: ",") + "]")
        case .fields:
            for (endpoint, status) in results {
                fieldsHeader(status.header)
                out("\"Version\" : \(goQuote(status.version))")
                out("\"DBSize\" : \(status.dbSize)")
                out("\"Leader\" : \(status.leader)")
                out("\"IsLearner\" : \(status.isLearner)")
                out("\"RaftIndex\" : \(status.raftIndex)")
                out("\"RaftTerm\" : \(status.raftTerm)")
                out("\"RaftAppliedIndex\" : \(status.raftAppliedIndex)")
                out("\"Errors\" : [\(status.errors.joined(separator: " "))]")
                out("\"Endpoint\" : \(goQuote(endpoint))")
                out("")
            }
        case .protobuf: throw unsupported()
        }
    }

    /// `snapshot status`: the snapshot's checksum, revision, record count and file size.
    func snapshotStatus(hash: UInt32, revision: Int64, totalKeys: Int, totalSize: Int64) throws(CommandError) {
        let row = [String(format: "%x", hash), "\(revision)", "\(totalKeys)", humanizeBytes(UInt64(totalSize))]
        switch format {
        case .simple: out(row.joined(separator: ", "))
        case .table: table(header: ["hash", "revision", "total keys", "total size"], rows: [row])
        case .json:
            out("{\"hash\":\(hash),\"revision\":\(revision),\"totalKey\":\(totalKeys),\"totalSize\":\(totalSize)}")
        case .fields:
            out("\"Hash\" : \(hash)")
            out("\"Revision\" : \(revision)")
            out("\"Keys\" : \(totalKeys)")
            out("\"Size\" : \(totalSize)")
        case .protobuf: throw unsupported()
        }
    }

    func endpointHashKV(_ results: [(endpoint: String, hash: Etcdserverpb_HashKVResponse)]) throws(CommandError) {
        switch format {
        case .simple: results.forEach { out("\($0.endpoint), \($0.hash.hash)") }
        case .table: table(header: ["endpoint", "hash"], rows: results.map { [$0.endpoint, "\($0.hash.hash)"] })
        case .json:
            out("[" + results.map { endpoint, hash in
                var object = GoJSONObject()
                object.string("Endpoint", endpoint, omitEmpty: false)
                object.object("HashKV", EtcdJSON.hashKV(hash))
                return object.text
            }.joined(separator: ",") + "]")
        case .fields:
            for (endpoint, hash) in results {
                fieldsHeader(hash.header)
                out("\"Endpoint\" : \(goQuote(endpoint))")
                out("\"Hash\" : \(hash.hash)")
                out("")
            }
        case .protobuf: throw unsupported()
        }
    }

    // MARK: Maintenance

    func alarm(_ response: Etcdserverpb_AlarmResponse) throws(CommandError) {
        switch format {
        case .simple:
            response.alarms.forEach { out("memberID:\($0.memberID) alarm:\(alarmName($0.alarm)) ") }
        case .json:
            var object = GoJSONObject()
            object.object("header", response.hasHeader ? EtcdJSON.header(response.header) : nil)
            object.array("alarms", response.alarms.map { alarm in
                var item = GoJSONObject()
                item.int("memberID", alarm.memberID)
                item.int("alarm", alarm.alarm.rawValue)
                return item.text
            })
            out(object.text)
        case .fields:
            fieldsHeader(response.header)
            for alarm in response.alarms {
                out("\"MemberID\" : \(alarm.memberID)")
                out("\"AlarmType\" : \(alarmName(alarm.alarm))")
                out("")
            }
        case .protobuf: try protobuf(response)
        case .table: throw unsupported()
        }
    }

    func moveLeader(from leader: UInt64, to target: UInt64) throws(CommandError) {
        guard format == .simple else { throw unsupported() }
        out("Leadership transferred from \(String(leader, radix: 16)) to \(String(target, radix: 16))")
    }

    // MARK: Pieces

    func out(_ line: String) { print(line) }

    func err(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    func unsupported() -> CommandError { .badFeature("\(format.rawValue) not supported as output format") }

    private func simpleKV(_ kv: Mvccpb_KeyValue) {
        if hex {
            if !valueOnly { out(hexEscaped(kv.key)) }
            out(hexEscaped(kv.value))
        } else {
            if !valueOnly { out(String(decoding: kv.key, as: UTF8.self)) }
            out(String(decoding: kv.value, as: UTF8.self))
        }
    }

    func fieldsHeader(_ header: Etcdserverpb_ResponseHeader) {
        out("\"ClusterID\" : \(header.clusterID)")
        out("\"MemberID\" : \(header.memberID)")
        out("\"Revision\" : \(header.revision)")
        out("\"RaftTerm\" : \(header.raftTerm)")
    }

    private func fieldsKV(_ prefix: String, _ kv: Mvccpb_KeyValue) {
        out("\"\(prefix)Key\" : \(goQuote(kv.key))")
        out("\"\(prefix)CreateRevision\" : \(kv.createRevision)")
        out("\"\(prefix)ModRevision\" : \(kv.modRevision)")
        out("\"\(prefix)Version\" : \(kv.version)")
        out("\"\(prefix)Value\" : \(goQuote(kv.value))")
        out("\"\(prefix)Lease\" : \(kv.lease)")
    }

    func protobuf(_ message: some SwiftProtobuf.Message) throws(CommandError) {
        do {
            let bytes: Data = try message.serializedBytes()
            FileHandle.standardOutput.write(bytes)
        } catch {
            err("\(error)")
        }
    }

    /// Go's tablewriter as etcdctl sets it up: borders, centred upper-case header, right-aligned cells.
    private func table(header: [String], rows: [[String]]) {
        let widths = header.indices.map { column in
            ([header[column].count] + rows.map { $0[column].count }).max()! + 2
        }
        let line = "+" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "+") + "+"
        func render(_ cells: [String], _ align: (String, Int) -> String) -> String {
            "|" + zip(cells, widths).map { align($0, $1) }.joined(separator: "|") + "|"
        }
        out(line)
        out(render(header.map { $0.uppercased() }) { text, width in
            let padding = width - text.count
            let left = padding / 2
            return String(repeating: " ", count: left) + text + String(repeating: " ", count: padding - left)
        })
        out(line)
        for row in rows {
            out(render(row) { text, width in String(repeating: " ", count: width - text.count - 1) + text + " " })
        }
        out(line)
    }
}

/// `%016x` of a lease id.
func hex16(_ value: Int64) -> String {
    let digits = String(UInt64(bitPattern: value), radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// `%16x` of a member or cluster id (space padded).
func hex16Spaced(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: " ", count: max(0, 16 - digits.count)) + digits
}

/// Go's `%q` of a byte string.
func goQuote(_ bytes: Data) -> String { goQuote(String(decoding: bytes, as: UTF8.self)) }

/// Go's `%q` of a string (for the printable ASCII and common escapes that keys use).
func goQuote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{07}": out += "\\a"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\u{0B}": out += "\\v"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += String(format: "\\x%02x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// etcdctl's `--hex` form: every byte as `\xNN`.
func hexEscaped(_ bytes: Data) -> String {
    bytes.map { String(format: "\\x%02x", $0) }.joined()
}

/// go-humanize's `Bytes`: SI units with one decimal below 10 ("25 kB", "1.2 MB").
func humanizeBytes(_ bytes: UInt64) -> String {
    if bytes < 10 { return "\(bytes) B" }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    let exponent = min(Int(log(Double(bytes)) / log(1000.0)), units.count - 1)
    let value = Double(bytes) / pow(1000.0, Double(exponent))
    let rounded = (value * 10 + 0.5).rounded(.down) / 10
    return rounded < 10 ? String(format: "%.1f %@", rounded, units[exponent]) : String(format: "%.0f %@", rounded, units[exponent])
}

func alarmName(_ type: Etcdserverpb_AlarmType) -> String {
    switch type {
    case .none: return "NONE"
    case .nospace: return "NOSPACE"
    case .corrupt: return "CORRUPT"
    case .UNRECOGNIZED(let value): return "\(value)"
    }
}

/// Flushes buffered standard output (watch and keep-alive print as events arrive).
func flushStandardOutput() { fflush(nil) }
