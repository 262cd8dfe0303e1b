import Crypto
import Foundation
import Raft
import SnapshotFile
import WAL

/// The members a new cluster starts with, from `--initial-cluster`: etcd's `VerifyBootstrap`
/// (this member is listed with exactly its advertised peer URLs) and `NewClusterFromURLsMap`.
struct InitialMembership {
    var local: ClusterMember
    /// By id.
    var members: [ClusterMember]
    var clusterID: UInt64

    init(name: String, initialCluster: [InitialClusterMember], advertisedPeerURLs: [String], token: String) throws {
        let peers = initialCluster.filter { $0.name == name }.map(\.url)
        guard !peers.isEmpty else {
            throw StartupError("couldn't find local name \"\(name)\" in the initial cluster configuration")
        }
        let advertised = Set(advertisedPeerURLs.map(Self.comparable))
        let missing = peers.filter { !advertised.contains(Self.comparable($0)) }
        if !missing.isEmpty || advertised != Set(peers.map(Self.comparable)) {
            let listed = missing.isEmpty ? peers : missing
            throw StartupError("--initial-cluster has \(listed.map { "\(name)=\($0)" }.joined(separator: ",")) but missing from --initial-advertise-peer-urls=\(advertisedPeerURLs.sorted().joined(separator: ",")) (the URL lists differ)")
        }
        members = Dictionary(grouping: initialCluster, by: \.name).map { name, entries in
            let urls = entries.map(\.url)
            return ClusterMember(id: MemberIDs.member(peerURLs: urls, token: token), name: name, peerURLs: urls,
                                 clientURLs: [], isLearner: false)
        }.sorted { $0.id < $1.id }
        if Set(members.map(\.id)).count != members.count {
            throw StartupError("--initial-cluster has two members with the same peer URLs")
        }
        local = members.first { $0.name == name }!
        clusterID = MemberIDs.cluster(memberIDs: members.map(\.id))
    }

    /// A peer URL as etcd compares them, after resolving host names; loopback names are all we resolve.
    static func comparable(_ url: String) -> String {
        url.replacingOccurrences(of: "//localhost:", with: "//127.0.0.1:")
    }
}

/// `etcdctl snapshot restore`: a new data directory for one member of a new cluster, holding a
/// saved snapshot's keys, history and leases (as etcd's restore, the old membership is dropped).
///
/// Every member restored from the same file with the same `--initial-cluster` and token gets
/// the same snapshot (index = member count, term 1), so they start as one cluster whose log
/// continues after it; the first election is for term 2.
package enum SnapshotRestore {
    package struct Options: Sendable {
        package var snapshotPath: String
        package var name = "default"
        package var initialCluster = "default=http://localhost:2380"
        package var token = "etcd-cluster"
        package var advertisedPeerURLs = ["http://localhost:2380"]
        /// Empty: `<name>.etcd`.
        package var dataDir = ""
        /// Empty: `<data-dir>/member/wal`.
        package var walDir = ""
        package var skipHashCheck = false

        package init(snapshotPath: String) { self.snapshotPath = snapshotPath }
    }

    /// What restore did, for etcdctl's log lines.
    package struct Outcome: Sendable {
        package var dataDir: String
        package var walDir: String
        package var snapDir: String
        package var clusterID: UInt64
        package var members: [(id: UInt64, peerURLs: [String])]
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks the options, then writes the data directory. `started` is called once the checks
    /// pass, before anything is written.
    package static func restore(_ options: Options, started: (Outcome) -> Void = { _ in }) throws(Failure) -> Outcome {
        let initialCluster: [InitialClusterMember]
        switch EtcdCommandLine.parseInitialCluster(options.initialCluster) {
        case .success(let parsed): initialCluster = parsed
        case .failure(let error): throw Failure(error.message)
        }
        let membership: InitialMembership
        do {
            membership = try InitialMembership(name: options.name, initialCluster: initialCluster,
                                               advertisedPeerURLs: options.advertisedPeerURLs, token: options.token)
        } catch {
            throw Failure("\(error)")
        }
        let dataDir = options.dataDir.isEmpty ? options.name + ".etcd" : options.dataDir
        if FileManager.default.fileExists(atPath: dataDir) { throw Failure("data-dir \"\(dataDir)\" exists") }
        let walDir: String
        if options.walDir.isEmpty {
            walDir = dataDir + "/member/wal"
        } else {
            walDir = options.walDir
            if FileManager.default.fileExists(atPath: walDir) { throw Failure("wal-dir \"\(walDir)\" exists") }
        }
        let outcome = Outcome(dataDir: dataDir, walDir: walDir, snapDir: dataDir + "/member/snap",
                              clusterID: membership.clusterID,
                              members: membership.members.map { ($0.id, $0.peerURLs) })
        started(outcome)

        let saved: SnapshotContents
        do {
            saved = try readVerified(options.snapshotPath, skipHashCheck: options.skipHashCheck, scratch: dataDir + ".restoring")
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
        let voters = membership.members.map(\.id)
        let index = UInt64(voters.count)
        let contents = SnapshotContents(
            index: index, term: 1, voters: voters, learners: [], clusterID: membership.clusterID,
            members: membership.members.map(\.snapshotMember), store: saved.store, leases: saved.leases,
            alarms: saved.alarms)
        do {
            _ = try SnapshotDirectory(path: outcome.snapDir).save(contents)
            let metadata = EtcdServer.WALMetadata(
                memberID: membership.local.id, clusterID: membership.clusterID, name: options.name,
                peerURLs: membership.local.peerURLs, voters: voters)
            let wal = try WriteAheadLog.create(directory: walDir, metadata: Array(try JSONEncoder().encode(metadata)))
            try wal.saveSnapshotMarker(WALSnapshotMarker(index: index, term: 1, confState: ConfState(voters: voters)))
            try wal.save(hardState: HardState(term: 1, vote: 0, commit: index), entries: [], sync: true)
        } catch {
            // Nothing half-written is left to be mistaken for a member's data.
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: walDir)
            throw Failure("\(error)")
        }
        return outcome
    }

    /// Reads a saved snapshot: `snapshot save` appends the SHA-256 of the file, which must match
    /// unless `skipHashCheck` (a file copied from a data directory has none).
    private static func readVerified(_ path: String, skipHashCheck: Bool, scratch: String) throws -> SnapshotContents {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure("open \(path): no such file or directory")
        }
        let bytes = try handle.readToEnd() ?? Data()
        try handle.close()
        // As etcd decides: database files are whole pages, so 32 bytes more is a digest.
        let hasHash = bytes.count % 512 == SHA256.byteCount
        if !hasHash && !skipHashCheck { throw Failure("snapshot missing hash but --skip-hash-check=false") }
        let database = hasHash ? bytes.prefix(bytes.count - SHA256.byteCount) : bytes
        if hasHash && !skipHashCheck {
            let expected = Array(bytes.suffix(SHA256.byteCount))
            let actual = Array(SHA256.hash(data: database))
            if expected != actual {
                func go(_ digest: [UInt8]) -> String { "[" + digest.map(String.init).joined(separator: " ") + "]" }
                throw Failure("expected sha256 \(go(expected)), got \(go(actual))")
            }
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let copy = scratch + "/snapshot.db"
        try Data(database).write(to: URL(fileURLWithPath: copy))
        return try SnapshotFile.read(from: copy)
    }
}
