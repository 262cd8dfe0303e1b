import BTreeStore
import Crypto
import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import Raft
import SnapshotFile
import Synchronization
import WAL

/// One etcd member: recovers (or bootstraps) its state from the data directory, runs consensus,
/// serves etcd's gRPC API and the HTTP endpoints on every client URL, and stops cleanly.
package final class EtcdServer: Sendable {
    package let core: ServerCore
    private let servers: [GRPCServer<HTTP2ServerTransport.Posix>]
    private let stopState = Mutex<(requested: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Opens the data directory and recovers the member's state; nothing is served until `run()`.
    package init(configuration: ServerConfiguration, logger: Logger) throws {
        try Self.prepareTLS(configuration, logger: logger)
        let metrics = ServerMetrics()
        let memberDirectory = configuration.dataDir + "/member"
        let walDirectory = configuration.walDir ?? memberDirectory + "/wal"
        let snapshots = try SnapshotDirectory(path: memberDirectory + "/snap")
        let electionTicks = max(2, configuration.electionTimeoutMilliseconds / max(1, configuration.heartbeatIntervalMilliseconds))
        let heartbeat = Duration.milliseconds(configuration.heartbeatIntervalMilliseconds)
        // etcd's minimum lease TTL: 1.5 election timeouts, rounded up to whole seconds.
        let minimumTTL = Int64(((3 * electionTicks / 2) * configuration.heartbeatIntervalMilliseconds + 999) / 1000)
        let lessor = Lessor(minimumTTL: max(1, minimumTTL))
        let alarms = AlarmList()

        let recovered: RaftDriver.Recovered
        let identity: MemberIdentity
        if Self.hasWAL(walDirectory) {
            (recovered, identity) = try Self.recover(configuration: configuration, walDirectory: walDirectory,
                                                     snapshots: snapshots, lessor: lessor, alarms: alarms,
                                                     electionTicks: electionTicks, logger: logger)
        } else {
            (recovered, identity) = try Self.bootstrap(configuration: configuration, walDirectory: walDirectory,
                                                       lessor: lessor, alarms: alarms, electionTicks: electionTicks,
                                                       logger: logger)
        }
        let driver = RaftDriver(
            recovered: recovered, snapshots: snapshots, identity: identity, logger: logger, metrics: metrics,
            tickInterval: heartbeat,
            // etcd's request timeout: 5 s plus two election timeouts.
            requestTimeout: .seconds(5) + .milliseconds(2 * configuration.electionTimeoutMilliseconds),
            snapshotCount: configuration.snapshotCount, maxRequestBytes: configuration.maxRequestBytes)
        let store = recovered.applier.store
        core = ServerCore(configuration: configuration, identity: identity, driver: driver,
                          readViews: store.readViews, watchHub: store.watchHub, lessor: lessor, alarms: alarms,
                          metrics: metrics, logger: logger, snapshots: snapshots)
        let core = core
        servers = try configuration.listenClientURLs.map { url in
            let address = try Self.socketAddress(url)
            let transport = HTTP2ServerTransport.Posix(
                address: address, transportSecurity: .plaintext,
                config: .defaults { config in
                    // etcd's server policy: pings every 5 s are fine, with or without calls.
                    config.connection.keepalive.clientBehavior = .init(
                        minPingIntervalWithoutCalls: .seconds(5), allowWithoutCalls: true)
                    // etcd accepts messages up to --max-request-bytes plus gRPC's overhead.
                    config.rpc.maxRequestPayloadSize = configuration.maxRequestBytes + 512 * 1024
                    config.http2.maxConcurrentStreams = Int(min(UInt32(Int32.max), configuration.maxConcurrentStreams))
                    // Coalescing delays every flush by up to 100 µs. Turned off (one A/B each on a
                    // noisy machine): single-client gets 780 → 1,020 req/s, single-client puts
                    // 0.67× → 0.94× etcd's rate; runs with 50-500 clients did not lose.
                    config.connection.flushCoalescing = nil
                    config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let handler = ClientPortHandler { method, target in
                                await HTTPEndpoints(core: core).answer(method: method, target: target)
                            }
                            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                        }
                    }
                })
            return GRPCServer(
                transport: transport,
                services: [KVService(core: core), WatchService(core: core), LeaseService(core: core),
                           MaintenanceService(core: core), ClusterService(core: core)],
                interceptors: [MetricsInterceptor(metrics: metrics)])
        }
    }

    // MARK: Running

    /// Serves until `stop()`; then finishes in-flight requests, syncs the WAL and returns.
    package func run() async throws {
        let logger = core.logger
        core.driver.start()
        let housekeeping = Task { [core] in await Self.housekeeping(core: core) }
        // Child results: true when a server finished, false when the shutdown grace period ended.
        await withThrowingTaskGroup(of: Bool.self) { group in
            for server in servers {
                group.addTask {
                    try await server.serve()
                    return true
                }
            }
            for (server, url) in zip(servers, core.configuration.listenClientURLs) {
                if let address = try? await server.listeningAddress {
                    logger.info("embed: serving insecure client requests on \(Self.describe(address)), this is strongly discouraged! (\(url))")
                }
            }
            logger.info("etcdserver: published {Name:\(core.identity.name) ClientURLs:[\(core.identity.clientURLs.joined(separator: " "))]} to cluster \(hex(core.identity.clusterID)); published local member to cluster")
            logger.info("etcdserver/membership: set the initial cluster version to 3.4; enabled capabilities for version 3.4")
            logger.info("embed: ready to serve client requests")
            await withCheckedContinuation { continuation in
                let alreadyStopped = stopState.withLock { state in
                    if state.requested { return true }
                    state.continuation = continuation
                    return false
                }
                if alreadyStopped { continuation.resume() }
            }
            // In-flight requests finish; streams that would never end (watches) are cut after a
            // grace period, as etcd's GracefulStop is.
            for server in servers { server.beginGracefulShutdown() }
            housekeeping.cancel()
            group.addTask {
                try? await Task.sleep(for: Self.shutdownGrace)
                return false
            }
            var running = servers.count
            while running > 0, let result = await group.nextResult() {
                switch result {
                case .success(true): running -= 1
                case .success(false): group.cancelAll()
                case .failure(let error):
                    running -= 1
                    if !(error is CancellationError) { logger.warning("etcdserver: while stopping: \(error)") }
                }
            }
            group.cancelAll()
        }
        core.driver.stop()
        logger.info("etcdserver: stopped serving; WAL synced")
    }

    /// How long in-flight requests and open streams get to finish at shutdown.
    static let shutdownGrace = Duration.seconds(2)

    /// Asks `run()` to return.
    package func stop() {
        let continuation = stopState.withLock { state in
            state.requested = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    /// The addresses actually bound, in the order of `--listen-client-urls` (port 0 resolved).
    package func listeningAddresses() async -> [String] {
        var addresses: [String] = []
        for server in servers {
            if let address = try? await server.listeningAddress { addresses.append(Self.describe(address)) }
        }
        return addresses
    }

    /// The leader's periodic duties: revoke expired leases, checkpoint remaining TTLs, compact
    /// automatically; and every member's progress notifications.
    private static func housekeeping(core: ServerCore) async {
        var compactor = AutoCompactor(configuration: core.configuration, logger: core.logger)
        var lastCheckpoint = ContinuousClock.now
        var lastProgress = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            let status = core.driver.raftStatus
            guard status.isLeader else { continue }
            for id in core.lessor.expired() {
                var revoke = Etcdserverpb_LeaseRevokeRequest()
                revoke.id = id
                Task { _ = try? await core.driver.propose(.leaseRevoke(revoke)) }
            }
            let now = ContinuousClock.now
            if now - lastCheckpoint >= .seconds(5) {
                lastCheckpoint = now
                let remaining = core.lessor.remainingTTLs()
                if !remaining.isEmpty {
                    var checkpoint = Etcdserverpb_LeaseCheckpointRequest()
                    checkpoint.checkpoints = remaining.map { lease in
                        var entry = Etcdserverpb_LeaseCheckpoint()
                        entry.id = lease.id
                        entry.remainingTtl = lease.remainingTTL
                        return entry
                    }
                    _ = try? await core.driver.propose(.leaseCheckpoint(checkpoint))
                }
            }
            if now - lastProgress >= .seconds(600) {
                lastProgress = now
                core.watchHub.notifyProgress()
            }
            if let revision = compactor.due(now: now, revision: core.readViews.current().revision,
                                            compacted: core.readViews.current().compactRevision) {
                var compaction = Etcdserverpb_CompactionRequest()
                compaction.revision = revision
                do {
                    _ = try await core.driver.propose(.compaction(compaction))
                    core.logger.info("etcdserver: finished scheduled compaction at \(revision)")
                } catch {
                    core.logger.warning("etcdserver: failed scheduled compaction at \(revision): \(error)")
                }
            }
        }
    }

    // MARK: Start-up

    private static func hasWAL(_ directory: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.contains { $0.hasSuffix(".wal") }
    }

    /// What the WAL's metadata records of the member: written once, at bootstrap.
    struct WALMetadata: Codable {
        var memberID: UInt64
        var clusterID: UInt64
        var name: String
        var peerURLs: [String]
        var voters: [UInt64]
    }

    private static func raftConfiguration(id: UInt64, electionTicks: Int, applied: UInt64) -> RaftConfiguration {
        RaftConfiguration(id: id, electionTick: electionTicks, heartbeatTick: 1, applied: applied,
                          maxInflightMessages: 512, checkQuorum: true, preVote: true)
    }

    private static func bootstrap(configuration: ServerConfiguration, walDirectory: String, lessor: Lessor,
                                  alarms: AlarmList, electionTicks: Int,
                                  logger: Logger) throws -> (RaftDriver.Recovered, MemberIdentity) {
        let peers = configuration.initialCluster.filter { $0.name == configuration.name }.map(\.url)
        guard !peers.isEmpty else {
            throw StartupError("couldn't find local name \"\(configuration.name)\" in the initial cluster configuration")
        }
        // etcd compares the two lists after resolving host names; loopback names are all we resolve.
        func resolved(_ url: String) -> String { url.replacingOccurrences(of: "//localhost:", with: "//127.0.0.1:") }
        let advertised = Set(configuration.initialAdvertisePeerURLs.map(resolved))
        let missing = peers.filter { !advertised.contains(resolved($0)) }
        if !missing.isEmpty || advertised != Set(peers.map(resolved)) {
            let listed = missing.isEmpty ? peers : missing
            throw StartupError("--initial-cluster has \(listed.map { "\(configuration.name)=\($0)" }.joined(separator: ",")) but missing from --initial-advertise-peer-urls=\(configuration.initialAdvertisePeerURLs.sorted().joined(separator: ",")) (the URL lists differ)")
        }
        // Without a peer transport yet, a member of a larger cluster would wait for a quorum forever.
        let names = Set(configuration.initialCluster.map(\.name))
        guard names.count == 1 && configuration.initialClusterState == .new else {
            throw StartupError("this server runs a single member so far; --initial-cluster with \(names.count) members or --initial-cluster-state existing needs the peer transport, which is not implemented yet")
        }
        let peerURLs = peers
        let memberID = MemberIDs.member(peerURLs: peerURLs, token: configuration.initialClusterToken)
        let voters = Dictionary(grouping: configuration.initialCluster, by: \.name).map { _, members in
            MemberIDs.member(peerURLs: members.map(\.url), token: configuration.initialClusterToken)
        }.sorted()
        let clusterID = MemberIDs.cluster(memberIDs: voters.isEmpty ? [memberID] : voters)
        let identity = MemberIdentity(memberID: memberID, clusterID: clusterID, name: configuration.name,
                                      peerURLs: peerURLs, clientURLs: configuration.advertiseClientURLs)
        let metadata = WALMetadata(memberID: memberID, clusterID: clusterID, name: configuration.name,
                                   peerURLs: peerURLs, voters: voters.isEmpty ? [memberID] : voters)
        let wal = try WriteAheadLog.create(directory: walDirectory, metadata: Array(try JSONEncoder().encode(metadata)))
        let confState = ConfState(voters: metadata.voters)
        let storage = MemoryStorage(confState: confState)
        // As etcd bootstraps: the initial members are the log's first entries, committed at term 1,
        // so every member's log starts the same and the first election is for term 2.
        let entries = metadata.voters.enumerated().map { offset, voter in
            Entry(term: 1, index: UInt64(offset + 1), type: .confChange,
                  data: ConfChange(type: .addNode, nodeID: voter).encoded())
        }
        let hardState = HardState(term: 1, vote: 0, commit: UInt64(entries.count))
        try wal.save(hardState: hardState, entries: entries, sync: true)
        storage.append(entries)
        storage.setHardState(hardState)
        let store = MVCCStore()
        let applier = Applier(store: store, lessor: lessor, alarms: alarms, identity: identity,
                              maxTxnOps: configuration.maxTxnOps)
        let node = RawNode(configuration: raftConfiguration(id: memberID, electionTicks: electionTicks, applied: 0),
                           storage: storage, randomSeed: UInt64.random(in: 1...UInt64.max))
        logger.info("etcdserver: starting member \(hex(memberID)) in cluster \(hex(clusterID))")
        return (RaftDriver.Recovered(node: node, storage: storage, wal: wal, applier: applier,
                                     confState: confState, snapshotIndex: 0), identity)
    }

    private static func recover(configuration: ServerConfiguration, walDirectory: String,
                                snapshots: SnapshotDirectory, lessor: Lessor, alarms: AlarmList, electionTicks: Int,
                                logger: Logger) throws -> (RaftDriver.Recovered, MemberIdentity) {
        var (wal, state) = try WriteAheadLog.open(directory: walDirectory)
        let metadata = try JSONDecoder().decode(WALMetadata.self, from: Data(state.metadata))
        let identity = MemberIdentity(memberID: metadata.memberID, clusterID: metadata.clusterID,
                                      name: metadata.name, peerURLs: metadata.peerURLs,
                                      clientURLs: configuration.advertiseClientURLs)
        let loaded = try snapshots.loadNewest()
        for skipped in loaded?.skipped ?? [] {
            logger.error("etcdserver: skipping unusable snapshot \(skipped.path): \(skipped.error)")
        }
        let snapshot = loaded?.contents
        let snapshotIndex = snapshot?.index ?? 0
        // The WAL replays after its newest snapshot marker; starting from an older snapshot (the
        // newer one was unusable) needs the entries after that one, if the WAL still has them.
        if snapshotIndex < state.snapshot?.index ?? 0 {
            let marker = WALSnapshotMarker(index: snapshotIndex, term: snapshot?.term ?? 0,
                                           confState: ConfState(voters: snapshot?.voters ?? metadata.voters,
                                                                learners: snapshot?.learners ?? []))
            do {
                (wal, state) = try WriteAheadLog.open(directory: walDirectory, from: snapshotIndex == 0 ? nil : marker)
            } catch {
                throw StartupError("the newest usable snapshot (index \(snapshotIndex)) is older than the WAL's first entries; cannot recover: \(error)")
            }
            if snapshotIndex < state.snapshot?.index ?? 0 {
                throw StartupError("no usable snapshot at or after WAL snapshot marker \(state.snapshot!.index); the data directory cannot be recovered")
            }
        }
        let store: MVCCStore
        let confState: ConfState
        let storage: MemoryStorage
        if let snapshot {
            store = MVCCStore(importing: snapshot.store)
            confState = ConfState(voters: snapshot.voters, learners: snapshot.learners)
            storage = MemoryStorage(confState: confState)
            try storage.applySnapshot(Raft.Snapshot(metadata: SnapshotMetadata(
                index: snapshot.index, term: snapshot.term, confState: confState)))
            lessor.restore(snapshot.leases, leasedKeys: store.readView.leasedKeys())
            alarms.replace(with: snapshot.alarms.map { alarm in
                var member = Etcdserverpb_AlarmMember()
                member.memberID = alarm.memberID
                member.alarm = Etcdserverpb_AlarmType(rawValue: Int(alarm.alarm)) ?? .none
                return member
            })
            logger.info("etcdserver: recovered store from snapshot at index \(snapshot.index) (revision \(snapshot.store.currentRevision))")
        } else {
            store = MVCCStore()
            confState = ConfState(voters: metadata.voters)
            storage = MemoryStorage(confState: confState)
        }
        storage.setHardState(state.hardState)
        storage.append(state.entries.filter { $0.index > snapshotIndex })
        let applier = Applier(store: store, lessor: lessor, alarms: alarms, identity: identity,
                              maxTxnOps: configuration.maxTxnOps)
        applier.term = state.hardState.term
        let node = RawNode(
            configuration: raftConfiguration(id: identity.memberID, electionTicks: electionTicks, applied: snapshotIndex),
            storage: storage, randomSeed: UInt64.random(in: 1...UInt64.max))
        logger.info("etcdserver: restarting member \(hex(identity.memberID)) in cluster \(hex(identity.clusterID)) at commit index \(state.hardState.commit)")
        return (RaftDriver.Recovered(node: node, storage: storage, wal: wal, applier: applier,
                                     confState: confState, snapshotIndex: snapshotIndex), identity)
    }

    /// `--peer-auto-tls` makes its certificate at start-up, as etcd does (peers use it once
    /// there are several members). Client TLS comes with the security work: an https client URL
    /// is refused plainly rather than served in the clear.
    private static func prepareTLS(_ configuration: ServerConfiguration, logger: Logger) throws {
        for url in configuration.listenClientURLs where url.hasPrefix("https://") {
            if configuration.certFile.isEmpty || configuration.keyFile.isEmpty {
                throw StartupError("TLS key/cert (--cert-file, --key-file) must be provided for client url \(url) with HTTPS scheme")
            }
            throw StartupError("client TLS (\(url)) is not supported by this server yet; use an http:// client URL")
        }
        guard configuration.peerAutoTLS else { return }
        if !configuration.peerCertFile.isEmpty || !configuration.peerKeyFile.isEmpty {
            logger.warning("embed: ignoring peer auto TLS since certs given")
            return
        }
        let hosts = configuration.listenPeerURLs.compactMap { URLComponents(string: $0)?.host }
        let files = try SelfSignedCertificate.ensure(in: configuration.dataDir + "/fixtures/peer", hosts: hosts)
        logger.info("embed: peer TLS: self-signed certificate \(files.certificate), key \(files.key)")
    }

    // MARK: Addresses

    static func socketAddress(_ url: String) throws -> GRPCNIOTransportCore.SocketAddress {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw StartupError("invalid listen URL \(url)")
        }
        switch host {
        case "localhost": return .ipv4(host: "127.0.0.1", port: port)
        case "": return .ipv4(host: "0.0.0.0", port: port)
        default:
            return host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        }
    }

    static func describe(_ address: GRPCNIOTransportCore.SocketAddress) -> String {
        if let ipv4 = address.ipv4 { return "\(ipv4.host):\(ipv4.port)" }
        if let ipv6 = address.ipv6 { return "[\(ipv6.host)]:\(ipv6.port)" }
        return "\(address)"
    }
}

/// A reason the member cannot start, said plainly.
package struct StartupError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}

/// etcd's member and cluster ids: the first 8 bytes (big-endian) of SHA-1 digests, so the same
/// `--initial-cluster` gives the same ids as etcd.
package enum MemberIDs {
    package static func member(peerURLs: [String], token: String) -> UInt64 {
        var bytes = Array(peerURLs.sorted().joined().utf8)
        bytes.append(contentsOf: token.utf8)
        return firstWord(Insecure.SHA1.hash(data: bytes))
    }

    package static func cluster(memberIDs: [UInt64]) -> UInt64 {
        var bytes: [UInt8] = []
        for id in memberIDs.sorted() { withUnsafeBytes(of: id.bigEndian) { bytes.append(contentsOf: $0) } }
        return firstWord(Insecure.SHA1.hash(data: bytes))
    }

    private static func firstWord(_ digest: Insecure.SHA1.Digest) -> UInt64 {
        digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
