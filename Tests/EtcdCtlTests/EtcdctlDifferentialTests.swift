import Foundation
import Testing
import TestSupport

/// The same etcdctl command lines through Debian's etcdctl 3.4 and through ours, each against its
/// own fresh reference etcd fed the same commands in the same order: stdout, stderr and exit code
/// must match once member and cluster ids, ports, lease ids and timings are replaced by placeholders.
@Suite(.serialized) struct EtcdctlDifferentialTests {
    @Test func commandTableMatchesTheReferenceEtcdctl() async throws {
        try await TemporaryDirectory.with(prefix: "etcdctl-diff") { directory in
            // Two servers with the same name and history; only their ids and ports differ.
            let otherDirectory = try TemporaryDirectory(prefix: "etcdctl-diff-ours")
            defer { otherDirectory.remove() }
            let referenceServer = try await EtcdMember.start(in: directory)
            let oursServer = try await EtcdMember.start(in: otherDirectory)
            var reference = try await Side(etcdctl: "/usr/bin/etcdctl", server: referenceServer)
            var ours = try await Side(etcdctl: try oursEtcdctlPath(), server: oursServer)

            let mismatches = try EtcdctlCase.mismatches(reference: &reference, ours: &ours)
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(EtcdctlCase.table.count) command lines differ:\n\(mismatches.joined(separator: "\n\n"))")
            #expect(EtcdctlCase.table.count >= 100)
            // Before the directories go (a throw above leaves them to the exit-time clean-up).
            await referenceServer.stop()
            await oursServer.stop()
        }
    }
}

/// One etcdctl command line of the table.
struct EtcdctlCase {
    var command: String
    var stdin: String? = nil
    /// Usage errors print the command's help on stdout; we compare stderr and the exit code only.
    var stdoutCompared = true
    /// For commands that run until interrupted (watch): how long to let them run before SIGTERM.
    var interruptAfter: Duration? = nil

    static let formats = ["simple", "json", "fields"]

    /// Runs the table through both sides in step. - Returns: a description of each difference.
    static func mismatches(reference: inout Side, ours: inout Side, table: [EtcdctlCase] = table) throws -> [String] {
        var mismatches: [String] = []
        for testCase in table {
            let expected = try reference.run(testCase)
            let actual = try ours.run(testCase)
            if expected != actual {
                mismatches.append("""
                    $ etcdctl \(testCase.command)\(testCase.stdin.map { " <<< \(String(reflecting: $0))" } ?? "")
                    reference: exit \(expected.exitCode)\n\(expected.stdout)\(expected.stderr)
                    ours:      exit \(actual.exitCode)\n\(actual.stdout)\(actual.stderr)
                    """)
            }
        }
        return mismatches
    }

    static let table: [EtcdctlCase] = {
        var cases: [EtcdctlCase] = []
        func add(_ command: String, stdin: String? = nil, stdoutCompared: Bool = true) {
            cases.append(EtcdctlCase(command: command, stdin: stdin, stdoutCompared: stdoutCompared))
        }
        func watch(_ command: String) {
            cases.append(EtcdctlCase(command: command, interruptAfter: .milliseconds(1500)))
        }
        // put
        add("put foo bar")
        add("put foo bar2 --prev-kv")
        add("put foo bar3 --prev-kv -w json")
        add("put foo bar4 --prev-kv -w fields")
        add("put fromstdin", stdin: "value from stdin")
        add("put emptystdin", stdin: "")
        add("put")
        add("put a b c")
        add("put foo --ignore-value newvalue")
        add("put foo --ignore-value")
        add("put \"\" value")
        add("put foo bar --lease=zz")
        add("put foo bar --lease=1234")
        add("put spaced \"hello world\"")
        add("put unicode héllo-wörld")
        add("put html <a&b>")
        for i in 1...6 { add("put dir/k\(i) v\(7 - i)") }
        add("put dir/sub/x nested")
        // get
        for format in formats {
            add("get foo -w \(format)")
            add("get dir/ --prefix -w \(format)")
            add("get nokey -w \(format)")
            add("get dir/k1 dir/k4 -w \(format)")
        }
        add("get dir/ --prefix --limit 2")
        add("get dir/ --prefix --limit 2 -w json")
        add("get dir/ --prefix --order DESCEND")
        add("get dir/ --prefix --order descend --sort-by VALUE")
        add("get dir/ --prefix --sort-by VALUE")
        add("get dir/ --prefix --sort-by CREATE --order DESCEND -w json")
        add("get dir/ --prefix --sort-by MODIFY --order ASCEND")
        add("get dir/ --prefix --sort-by VERSION")
        add("get dir/ --prefix --keys-only")
        add("get dir/ --prefix --keys-only -w json")
        add("get dir/ --prefix --count-only -w json", stdoutCompared: false)
        add("get dir/ --prefix --print-value-only")
        add("get dir/ --prefix --print-value-only -w json")
        add("get dir/k3 --from-key")
        add("get \"\" --prefix --keys-only")
        add("get \"\" --from-key --limit 3")
        add("get foo --consistency=s")
        add("get foo --consistency=x")
        add("get foo --rev=1")
        add("get foo --rev=2 -w json")
        add("get foo --rev=1000")
        add("get foo --order=sideways")
        add("get foo --sort-by=size")
        add("get dir/ dir/z --prefix")
        add("get dir/ --prefix --from-key")
        add("get")
        add("get foo --hex")
        add("get dir/ --prefix --hex --limit 1")
        add("--hex get spaced")
        add("get html -w json")
        add("get unicode -w fields")
        add("get foo -w table")
        add("get foo -w yaml")
        add("-w json get foo")
        add("get --write-out=fields foo")
        add("get foo --bogus", stdoutCompared: false)
        add("get foo --limit", stdoutCompared: false)
        add("get foo --prefix=maybe", stdoutCompared: false)
        add("nosuchcommand")
        // del
        add("del nokey")
        add("del dir/k1 --prev-kv")
        add("del dir/k2 -w json")
        add("del dir/k3 --prev-kv -w fields")
        add("del dir/k4 dir/k6")
        add("del dir/ --prefix --prev-kv -w json")
        add("del")
        add("del a --prefix --from-key")
        add("del a b --prefix")
        // txn
        add("put counter 1")
        add("txn", stdin: "value(\"counter\") = \"1\"\n\nput counter 2\nget counter\n\nget counter\n\n")
        add("txn", stdin: "value(\"counter\") = \"1\"\n\nput counter 3\n\nget counter\n\n")
        add("txn -w json", stdin: "mod(\"counter\") > \"0\"\n\nget counter\n\n\n")
        add("txn -w fields", stdin: "ver(\"counter\") < \"100\"\n\nput counter 4 --prev-kv\ndel nothing\n\n\n")
        add("txn", stdin: "create(\"counter\") != \"0\"\nversion(\"counter\") > \"1\"\n\nget counter --print-value-only\n\n\n")
        add("txn", stdin: "c(\"counter\") = \"0\"\n\n\nput created-by-else yes\n\n")
        add("txn", stdin: "value(\"counter\" = \"1\"\n\n\n\n")
        add("txn", stdin: "bogus(\"counter\") = \"1\"\n\n\n\n")
        add("txn", stdin: "\nfrobnicate x\n\n\n")
        add("txn", stdin: "\nput a\n\n\n")
        add("txn", stdin: "\nput k1 v1\nput k1 v2\n\n\n")
        add("txn extra-argument", stdin: "\n\n\n")
        add("txn -i", stdin: "\nput interactive yes\n\n\n")
        // watch: history replayed from a past revision, then interrupted
        watch("watch foo --rev=1")
        watch("watch dir/ --prefix --rev=1 --prev-kv")
        watch("watch dir/ --prefix --rev=1 -w json")
        watch("watch counter --rev=1 -w fields")
        watch("watch dir/k1 dir/k5 --rev=1")
        watch("watch --rev=1 --hex spaced")
        watch("watch counter --rev=1 -- sh -c \"echo $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION\"")
        add("watch")
        watch("watch a b c")
        // watch -i: lines that fail before any watch starts (the rest is WatchInteractiveTests)
        add("watch -i", stdin: "bogus\n\nwatch\nprogress\nwatch a b --prefix\n")
        add("watch -i", stdin: "watch foo --\n")
        add("watch -i", stdin: "watch --bogus foo\n")
        add("watch -i", stdin: "watch\n")
        add("watch -i", stdin: "")
        watch("watch -i --rev=1")
        // check perf: the refusals before any load (a whole run is CheckPerfTests)
        add("check perf --load bogus")
        add("put /etcdctl-check-perf/x 1")
        add("check perf --load m")
        add("check perf --prefix /etcdctl-check-perf/x")
        add("del /etcdctl-check-perf/x")
        // compaction
        add("compaction 2")
        add("compaction 2")
        add("compaction abc")
        add("compaction")
        add("compaction 100000")
        add("get foo --rev=1")
        add("watch foo --rev=1")
        // members, endpoints, maintenance
        for format in formats + ["table"] {
            add("member list -w \(format)")
            add("endpoint status -w \(format)")
            add("endpoint hashkv -w \(format)")
        }
        add("endpoint status --cluster")
        add("endpoint hashkv --rev 3")
        add("member remove")
        add("member remove xyz")
        add("member remove 1234")
        add("member update 1234")
        add("member update 1234 --peer-urls=http://127.0.0.1:1")
        add("member promote 1234")
        add("member add")
        add("member add new http://127.0.0.1:1")
        add("member add new")
        add("alarm list")
        add("alarm list -w json")
        add("alarm disarm")
        add("defrag")
        add("snapshot save")
        add("snapshot save /nonexistent/directory/snapshot.db")
        add("snapshot restore")
        add("snapshot restore /nonexistent/directory/snapshot.db --data-dir /nonexistent/directory/restored")
        add("move-leader")
        add("move-leader zz")
        add("make-mirror")
        add("make-mirror a b")
        add("version")
        add("--endpoints=127.0.0.1:1 --command-timeout=1s get foo")
        add("--endpoints=127.0.0.1:1 --command-timeout=1s put foo bar")
        add("--dial-timeout=banana get foo", stdoutCompared: false)
        // leases
        add("lease grant 100")
        add("put leased value --lease=$LEASE")
        for format in formats {
            add("lease timetolive $LEASE -w \(format)")
            add("lease timetolive $LEASE --keys -w \(format)")
            add("lease list -w \(format)")
        }
        add("get leased -w json")
        add("lease keep-alive --once $LEASE")
        add("lease revoke $LEASE")
        add("lease timetolive $LEASE")
        add("lease revoke $LEASE")
        add("lease grant")
        add("lease grant abc")
        add("lease grant 60 -w json")
        add("lease grant 60 -w fields")
        add("lease revoke")
        add("lease revoke xyz")
        add("lease timetolive")
        add("lease timetolive 1")
        add("put foo bar --lease=1")
        return cases
    }()
}

/// `etcdctl snapshot save` through ours writes a snapshot that the reference etcdctl reads back
/// with the right revision and key count (its status checks the snapshot's integrity hash).
@Suite struct SnapshotSaveTests {
    @Test func savedSnapshotIsReadableByTheReferenceEtcdctl() async throws {
        try await TemporaryDirectory.with(prefix: "snapshot-save") { directory in
            let server = try await EtcdMember.start(in: directory)
            for index in 0..<50 {
                _ = try Side.execute("/usr/bin/etcdctl", ["--endpoints", server.clientEndpoint, "put", "k\(index)", "v"], stdin: nil)
            }
            let path = directory.appending("saved.db")
            let saved = try Side.execute(try oursEtcdctlPath(), ["--endpoints", server.clientEndpoint, "snapshot", "save", path], stdin: nil)
            #expect(saved.exitCode == 0)
            #expect(saved.stdout == "Snapshot saved at \(path)\n")
            #expect(!FileManager.default.fileExists(atPath: path + ".part"))
            let referencePath = directory.appending("reference.db")
            _ = try Side.execute("/usr/bin/etcdctl", ["--endpoints", server.clientEndpoint, "snapshot", "save", referencePath], stdin: nil)
            let status = try Side.execute("/usr/bin/etcdctl", ["snapshot", "status", path, "-w", "fields"], stdin: nil)
            let referenceStatus = try Side.execute("/usr/bin/etcdctl", ["snapshot", "status", referencePath, "-w", "fields"], stdin: nil)
            #expect(status.exitCode == 0, "\(status.stderr)")
            #expect(status.stdout.contains("\"Revision\" : 51"), "\(status.stdout)")
            let withoutHash = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("\"Hash\"") } }
            #expect(withoutHash(status.stdout) == withoutHash(referenceStatus.stdout))
            await server.stop()
        }
    }
}

/// The normalised result of one command line.
typealias EtcdctlResult = ProcessResult

/// One etcdctl binary and the server it talks to, with what must be normalised in its output.
struct Side {
    let etcdctl: String
    let server: EtcdMember
    /// Set when the two sides are different servers: their Raft logs have different lengths (etcd
    /// writes entries of its own at start-up), so Raft indexes are replaced by placeholders.
    var ignoresRaftIndexes = false
    /// Set for clusters: which member won which election (so the term) is chance.
    var ignoresRaftTerms = false
    private var replacements: [(String, String)] = []
    private var lease = "0"

    /// Commands go to `server`; every member of `cluster` gets placeholders for its id and ports
    /// named after it (`<MEMBER-n1>`), so two clusters compare line by line.
    init(etcdctl: String, server: EtcdMember, cluster: EtcdCluster) async throws {
        try await self.init(etcdctl: etcdctl, server: server)
        let list = try Self.execute(etcdctl, ["--endpoints", server.clientEndpoint, "member", "list", "-w", "simple"], stdin: nil)
        var named: [(String, String)] = []
        for line in list.stdout.split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3, let id = UInt64(fields[0], radix: 16) else { continue }
            named += [(String(id), "<MEMBER-\(fields[2])>"), (fields[0], "<MEMBER-\(fields[2])>")]
        }
        for member in cluster.members {
            named += [("127.0.0.1:\(member.clientPort)", "<CLIENT-\(member.name)>"),
                      ("127.0.0.1:\(member.peerPort)", "<PEER-\(member.name)>")]
        }
        // The cluster id first; then longer ids before shorter ones that may be their substrings.
        replacements = replacements.filter { $0.1 == "<CLUSTER>" } + named.sorted { $0.0.count > $1.0.count }
    }

    init(etcdctl: String, server: EtcdMember) async throws {
        self.etcdctl = etcdctl
        self.server = server
        let status = try Self.execute(
            etcdctl, ["--endpoints", server.clientEndpoint, "endpoint", "status", "-w", "fields"], stdin: nil)
        func field(_ name: String) -> UInt64 {
            status.stdout.split(separator: "\n").first { $0.hasPrefix("\"\(name)\" :") }
                .flatMap { UInt64($0.split(separator: " ").last!) } ?? 0
        }
        let member = field("MemberID")
        let cluster = field("ClusterID")
        replacements = [
            (String(member), "<MEMBER>"), (String(member, radix: 16), "<MEMBER>"),
            (String(cluster), "<CLUSTER>"), (String(cluster, radix: 16), "<CLUSTER>"),
            ("127.0.0.1:\(server.clientPort)", "<CLIENT>"), ("127.0.0.1:\(server.peerPort)", "<PEER>"),
        ]
    }

    mutating func run(_ testCase: EtcdctlCase) throws -> EtcdctlResult {
        let command = testCase.command.replacingOccurrences(of: "$LEASE", with: lease)
        let raw = try Self.execute(
            etcdctl, ["--endpoints", server.clientEndpoint] + shellWords(command), stdin: testCase.stdin,
            interruptAfter: testCase.interruptAfter)
        if command.hasPrefix("lease grant"), raw.exitCode == 0 {
            if let match = raw.stdout.firstMatch(of: /lease ([0-9a-f]{16}) granted/) {
                lease = String(match.1)
            } else if let match = raw.stdout.firstMatch(of: /"ID" ?: ?(\d+)/), let id = Int64(match.1) {
                lease = String(UInt64(bitPattern: id), radix: 16)
            }
            if let id = UInt64(lease, radix: 16) {
                replacements += [(lease, "<LEASE>"), (String(Int64(bitPattern: id)), "<LEASE>")]
            }
        }
        return EtcdctlResult(
            exitCode: raw.exitCode,
            stdout: testCase.stdoutCompared ? normalise(raw.stdout) : "",
            stderr: normalise(raw.stderr.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("{\"level\":") }.joined(separator: "\n")))
    }

    private func normalise(_ text: String) -> String {
        var text = text
        for (value, placeholder) in replacements { text = text.replacingOccurrences(of: value, with: placeholder) }
        text = text.replacing(/took = [0-9.]+[µnm]?s/, with: "took = <T>")
        // The remaining TTL of the table's 100 s lease depends on when each side's command ran.
        text = text.replacing(/remaining\((9\d|100)s\)/, with: "remaining(<TTL>s)")
        text = text.replacing(/"ttl":(9\d|100)\b/, with: "\"ttl\":<TTL>")
        text = text.replacing(/"TTL" : 9\d\b/, with: "\"TTL\" : <TTL>")
        // The database file's size is the server's (bbolt grows it at its own moments), not etcdctl's.
        text = text.replacing(/"dbSize":\d+/, with: "\"dbSize\":<SIZE>")
        text = text.replacing(/"DBSize" : \d+/, with: "\"DBSize\" : <SIZE>")
        text = text.replacing(/\b\d+(\.\d)? (B|kB|MB|GB)\b/, with: "<SIZE>")
        if ignoresRaftIndexes {
            text = text.replacing(/"(raftIndex|raftAppliedIndex)":\d+/) { "\"\($0.1)\":<INDEX>" }
            text = text.replacing(/"(RaftIndex|RaftAppliedIndex)" : \d+/) { "\"\($0.1)\" : <INDEX>" }
            let terms = ignoresRaftTerms
            text = text.replacing(/(true|false)(,| +\|) +(\d+)(,| +\|) +\d+(,| +\|) +\d+(,| +\|)/) {
                "\($0.1)\($0.2) \(terms ? "<TERM>" : String($0.3))\($0.4) <INDEX>\($0.5) <INDEX>\($0.6)"
            }
            // bbolt's page accounting against ours: both are sizes, neither is etcdctl's doing.
            text = text.replacing(/"dbSizeInUse":\d+/, with: "\"dbSizeInUse\":<SIZE>")
            text = text.replacing(/"DBSizeInUse" : \d+/, with: "\"DBSizeInUse\" : <SIZE>")
        }
        if ignoresRaftTerms {
            text = text.replacing(/"(raft_term|raftTerm)":\d+/) { "\"\($0.1)\":<TERM>" }
            text = text.replacing(/"RaftTerm" : \d+/, with: "\"RaftTerm\" : <TERM>")
        }
        // Table column widths follow the ids' lengths (hex without leading zeros), which differ.
        text = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("+") || line.hasPrefix("|") else { return String(line) }
            return String(line).replacing(/-+/, with: "-").replacing(/\ +/, with: " ")
        }.joined(separator: "\n")
        return text.replacing(/"took":"[0-9.]+[µnm]?s"/, with: "\"took\":\"<T>\"")
    }

    static func execute(
        _ executable: String, _ arguments: [String], stdin: String?, interruptAfter: Duration? = nil
    ) throws -> EtcdctlResult {
        try runProcess(executable, arguments, stdin: stdin, environment: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"],
                       interruptAfter: interruptAfter)
    }
}

/// Splits a command line into words; double quotes group words (and "" is an empty word).
func shellWords(_ line: String) -> [String] {
    var words: [String] = []
    var current = ""
    var inQuotes = false
    var hasWord = false
    for character in line {
        if character == "\"" {
            inQuotes.toggle()
            hasWord = true
        } else if character == " " && !inQuotes {
            if hasWord { words.append(current) }
            current = ""
            hasWord = false
        } else {
            current.append(character)
            hasWord = true
        }
    }
    if hasWord { words.append(current) }
    return words
}

/// Our etcdctl, built next to the test bundle (the test target depends on it).
func oursEtcdctlPath() throws -> String {
    try builtExecutable("etcdctl")
}
