import Foundation
import Testing
import TestSupport

/// python3-etcd3 (python-grpc, a second real client) runs the same script against the reference
/// etcd and against ours; the printed results must be identical.
@Suite(.serialized) struct PythonClientTests {
    static let script = #"""
import sys, time, etcd3
host, port = sys.argv[1], int(sys.argv[2])
c = etcd3.client(host=host, port=port, timeout=10)
out = []
def p(*items): out.append(" ".join(str(i) for i in items))
def kv(meta): return (meta.key.decode(), meta.create_revision, meta.mod_revision, meta.version)

c.put("a", "1"); c.put("b", "2"); c.put("a", "3")
value, meta = c.get("a"); p("get a", value.decode(), kv(meta))
p("missing", c.get("nothing"))
p("prefix", [(v.decode(), kv(m)) for v, m in c.get_all()])
p("sorted desc", [v.decode() for v, m in c.get_all(sort_order="descend")])
p("range", [(v.decode(), m.key.decode()) for v, m in c.get_range("a", "b")])
p("delete", c.delete("b"), c.delete("b"))
c.put("x/1", "one"); c.put("x/2", "two")
p("delete prefix", c.delete_prefix("x/").deleted)
c.put("counter", "1")
ok, responses = c.transaction(
    compare=[c.transactions.value("counter") == "1"],
    success=[c.transactions.put("counter", "2"), c.transactions.get("counter")],
    failure=[c.transactions.get("counter")])
p("txn", ok, [[(v.decode(), kv(m)) for v, m in r] if isinstance(r, list) else type(r).__name__ for r in responses])
ok, responses = c.transaction(
    compare=[c.transactions.version("counter") > 5],
    success=[c.transactions.put("counter", "never")],
    failure=[c.transactions.get("counter")])
p("txn else", ok, [[v.decode() for v, m in r] for r in responses])
ok, _ = c.transaction(compare=[c.transactions.create("counter") != 0, c.transactions.mod("counter") < 1000],
                      success=[c.transactions.delete("counter")], failure=[])
p("txn delete", ok, c.get("counter"))
lease = c.lease(60)
c.put("leased", "v", lease=lease)
p("lease", lease.granted_ttl, [k.decode() for k in lease.keys], 55 <= lease.remaining_ttl <= 60)
lease.refresh()
lease.revoke()
p("after revoke", c.get("leased"))
c.put("w", "1"); c.put("w", "2"); c.delete("w")
events, cancel = c.watch("w", start_revision=1)
seen = []
for event in events:
    seen.append((type(event).__name__, event.key.decode(), event.value.decode(), event.mod_revision))
    if len(seen) == 3: break
cancel()
p("watch", seen)
status = c.status()
p("status", status.version, status.leader.id == status.leader.id, status.raft_term)
try:
    c.put("", "empty")
except Exception as error:
    p("empty key", type(error).__name__, str(error).split("\n")[0][:60])
c.compact(3)
try:
    list(c.watch("a", start_revision=1)[0])
except Exception as error:
    p("compacted watch", type(error).__name__)
p("members", [(m.name, m.peer_urls == m.peer_urls) for m in c.members])
print("\n".join(out))
"""#

    static func run(against member: EtcdMember) throws -> String {
        let result = try runProcess("/usr/bin/python3", ["-c", script, "127.0.0.1", String(member.clientPort)])
        return result.stdout + (result.exitCode == 0 ? "" : "exit \(result.exitCode): " + result.stderr)
    }

    @Test func python3Etcd3SeesTheSameAnswers() async throws {
        try await TemporaryDirectory.with(prefix: "python-etcd3") { directory in
            let oursDirectory = try TemporaryDirectory(prefix: "python-etcd3-ours")
            defer { oursDirectory.remove() }
            let reference = try await EtcdMember.start(in: directory)
            let ours = try await EtcdMember.start(in: oursDirectory, executable: try builtExecutable("etcd"))
            let expected = try Self.run(against: reference)
            let actual = try Self.run(against: ours)
            #expect(!expected.contains("exit "), "the script fails against the reference: \(expected)")
            #expect(actual == expected)
            await reference.stop()
            await ours.stop()
        }
    }
}
