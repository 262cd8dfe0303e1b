import Foundation
import Testing
import TestSupport

/// `auth`, `user` and `role` and the global `--user`/`--password`, through Debian's etcdctl and
/// ours, each against its own fresh Debian etcd (our server has no Auth service yet): every output
/// format, etcdctl's argument checks, permissions enforced once auth is on, a wrong password, and
/// the way back to auth off.
@Suite(.serialized) struct AuthDifferentialTests {
    static let table: [EtcdctlCase] = {
        var cases: [EtcdctlCase] = []
        func add(_ command: String, stdin: String? = nil) { cases.append(EtcdctlCase(command: command, stdin: stdin)) }
        add("user add root:rootpw")
        add("user add alice --new-user-password=secret")
        add("user add bob:pw -w json")
        add("user add carol --interactive=false", stdin: "carolpw\n")
        add("user add :nameless")
        add("user add alice:again")
        add("user add nocert --no-password -w fields")
        add("user add")
        // Passwords asked for without a terminal: read from stdin all the same, stty complaining.
        add("user add dave")
        add("user add erin", stdin: "erinpw\nerinpw\n")
        add("user add frank", stdin: "one\ntwo\n")
        add("--user erin get foo", stdin: "erinpw\n")
        add("role add reader")
        add("role add reader")
        add("role add writer -w json")
        add("role add")
        add("role grant-permission reader read /data/ --prefix")
        add("role grant-permission reader readwrite k1 k5 -w json")
        add("role grant-permission reader write --from-key z -w fields")
        add("role grant-permission reader read \"\" --prefix")
        add("role grant-permission reader read x y --prefix")
        add("role grant-permission reader read x --prefix --from-key")
        add("role grant-permission reader bogus k")
        add("role grant-permission reader read")
        add("role grant-permission nobody read k")
        // (protobuf output carries the member id in binary, which differs between the two servers)
        for format in EtcdctlCase.formats + ["table"] { add("role get reader -w \(format)") }
        add("role get nobody")
        add("user grant-role alice reader")
        add("user grant-role alice nobody")
        add("user grant-role nobody reader")
        add("user grant-role alice")
        for format in EtcdctlCase.formats + ["table"] { add("user get alice -w \(format)") }
        add("user get alice --detail")
        add("user get nobody")
        add("user list")
        add("user list -w json")
        add("role list")
        add("role list -w fields")
        add("user passwd bob --interactive=false", stdin: "newpw\n")
        // Auth on: the root role is made and granted by etcdctl itself.
        add("auth enable")
        add("auth enable extra")
        add("get foo")
        add("--user alice:secret put /data/x 1")
        add("--user alice:secret get /data/x")
        add("--user alice:wrong get /data/x")
        add("--user nobody:pw get /data/x")
        add("--user root:rootpw put /data/x 1")
        add("--user alice --password secret get /data/ --prefix")
        add("--user alice:secret get k1 k5")
        add("--user alice:secret put k2 v")
        add("--user alice:secret put z9 v")
        add("--user alice:secret get z9")
        add("--user bob:newpw get /data/x")
        add("--user bob:pw get /data/x")
        add("--user alice:secret user list")
        add("--user root:rootpw user list")
        add("--user root:rootpw role revoke-permission reader /data/ --prefix")
        add("--user root:rootpw role revoke-permission reader k1 k5 -w json")
        add("--user root:rootpw role revoke-permission reader z --from-key")
        add("--user root:rootpw role revoke-permission reader never")
        add("--user root:rootpw role get reader")
        add("--user root:rootpw user revoke-role alice reader")
        add("--user root:rootpw user revoke-role alice reader")
        add("--user root:rootpw user delete bob")
        add("--user root:rootpw role delete reader")
        add("--user root:rootpw user delete root")
        add("--user root:rootpw auth disable")
        add("auth disable")
        add("user delete alice")
        add("user delete nobody")
        add("role delete root")
        add("user delete root")
        add("user list")
        add("role list -w json")
        return cases
    }()

    @Test func authCommandsMatchTheReferenceEtcdctl() async throws {
        try await TemporaryDirectory.with(prefix: "auth-diff") { directory in
            let otherDirectory = try TemporaryDirectory(prefix: "auth-diff-ours")
            defer { otherDirectory.remove() }
            let referenceServer = try await EtcdMember.start(in: directory)
            let oursServer = try await EtcdMember.start(in: otherDirectory)
            var reference = try await Side(etcdctl: "/usr/bin/etcdctl", server: referenceServer)
            var ours = try await Side(etcdctl: try oursEtcdctlPath(), server: oursServer)
            let mismatches = try EtcdctlCase.mismatches(reference: &reference, ours: &ours, table: Self.table)
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.table.count) command lines differ:\n\(mismatches.joined(separator: "\n\n"))")
            await referenceServer.stop()
            await oursServer.stop()
        }
    }
}
