import BTreeStore
import Crypto
import EtcdProto
import Foundation
import GRPCCore
import LeanGRPC
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Raft
import SnapshotFile
import Synchronization
import WAL

/// One etcd member: recovers (or bootstraps) its state from the data directory, runs consensus,
/// serves etcd's gRPC API and the HTTP endpoints on every client URL, and stops cleanly.
package final class EtcdServer: Sendable {
    package let core: ServerCore
    private let methods: GRPCMethodTable
    private let clientEndpoints: [ClientEndpoint]
    private let shutdown: ShutdownTrigger

    /// One `--listen-client-urls` address.
    private struct ClientEndpoint: Sendable {
        var url: String
        var address: (host: String, port: Int)
        var tls: NIOSSLContext?
    }

    /// Opens the data directory and recovers the member's state (joining an existing cluster
    /// asks its members who they are); nothing is served until `run()`.
    package init(configuration: ServerConfiguration, logger: Logger) async throws {
        let (peerTLS, clientTLS) = try Self.prepareTLS(configuration, logger: logger)
        if configuration.experimentalCorruptCheckTime != .zero {
            throw StartupError("--experimental-corrupt-check-time (the periodic check and its CORRUPT alarm) is not supported by this server yet; --experimental-initial-corrupt-check is")
        }
        let metrics = ServerMetrics()
        let memberDirectory = configuration.dataDir + "/member"
        let walDirectory = configuration.walDir ?? memberDirectory + "/wal"
        let snapshots = try SnapshotDirectory(path: memberDirectory + "/snap")
        try snapshots.removeInterruptedReceives()
        let timing = MemberTiming(configuration)
        let electionTicks = timing.electionTicks
        let lessor = Lessor(minimumTTL: timing.minimumTTL)
        let alarms = AlarmList()
        let members = ClusterMembers()

        let recovered: RaftDriver.Recovered
        let identity: MemberIdentity
        /// Members a joining member learned from its peers (at the join, or from its WAL after a
        /// restart), to reach them before its log says who they are.
        var seeds: [ClusterMember] = []
        if Self.hasWAL(walDirectory) {
            (recovered, identity, seeds) = try Self.recover(
                configuration: configuration, walDirectory: walDirectory, snapshots: snapshots, lessor: lessor,
                alarms: alarms, members: members, electionTicks: electionTicks, logger: logger)
        } else if configuration.initialClusterState == .existing {
            (recovered, identity, seeds) = try await Self.join(
                configuration: configuration, walDirectory: walDirectory, lessor: lessor, alarms: alarms,
                members: members, peerTLS: peerTLS, electionTicks: electionTicks, logger: logger)
        } else {
            (recovered, identity) = try Self.bootstrap(configuration: configuration, walDirectory: walDirectory,
                                                       lessor: lessor, alarms: alarms, members: members,
                                                       electionTicks: electionTicks, logger: logger)
        }
        let shutdown = ShutdownTrigger()
        self.shutdown = shutdown
        let transport = PeerTransport(
            localID: identity.memberID, clusterID: identity.clusterID,
            receivingPath: { snapshots.receivingPath(tag: $0) }, tls: peerTLS, logger: logger,
            isRemoved: { members.isRemoved($0) })
        let driver = RaftDriver(
            recovered: recovered, snapshots: snapshots, identity: identity, members: members, seeds: seeds,
            transport: transport, logger: logger, metrics: metrics, tickInterval: timing.heartbeat,
            requestTimeout: timing.requestTimeout, electionTimeout: timing.electionTimeout,
            snapshotCount: configuration.snapshotCount, maxRequestBytes: configuration.maxRequestBytes,
            environment: DriverEnvironment(crashBeforeSnapshotRename: configuration.failpoints[.snapshotCrashBeforeRename],
                                           crashAfterAdoptingSnapshot: configuration.failpoints[.snapshotCrashAfterAdopt] != nil),
            removed: { shutdown.stop(removed: true) })
        let store = recovered.applier.store
        core = ServerCore(configuration: configuration, identity: identity, driver: driver, members: members,
                          transport: transport, readViews: store.readViews, watchHub: store.watchHub, lessor: lessor,
                          alarms: alarms, metrics: metrics, logger: logger, snapshots: snapshots,
                          removedFromCluster: { shutdown.stop(removed: true) })
        let core = core
        transport.setDelegate(core)
        methods = GRPCMethodTable.etcd(core: core)
        clientEndpoints = try configuration.listenClientURLs.map { url in
            // TLS goes in front of the handler that tells gRPC from HTTP/1.1.
            ClientEndpoint(url: url, address: try Self.listenAddress(url),
                           tls: url.hasPrefix("https://") ? clientTLS?.context : nil)
        }
    }

    // MARK: Running

    /// Serves until `stop()` (or until this member is removed from the cluster); then finishes
    /// in-flight requests, syncs the WAL and returns.
    package func run() async throws {
        let logger = core.logger
        try await core.transport.listen(on: core.configuration.listenPeerURLs)
        core.driver.start()
        if core.configuration.experimentalInitialCorruptCheck {
            do {
                try await Self.checkInitialHashKV(core: core)
            } catch {
                core.driver.stop()
                core.transport.shutdown()
                throw error
            }
        }
        let housekeeping = Task { [core] in await Self.housekeeping(core: core) }
        let publishing = Task { [core] in await Self.publish(core: core) }
        let listeners: [GRPCListener]
        do {
            listeners = try await bindClientEndpoints()
        } catch {
            housekeeping.cancel()
            publishing.cancel()
            core.driver.stop()
            core.transport.shutdown()
            throw error
        }
        for (listener, endpoint) in zip(listeners, clientEndpoints) {
            let address = listener.localAddress.map(Self.describe) ?? "\(endpoint.address.host):\(endpoint.address.port)"
            if endpoint.url.hasPrefix("https://") {
                logger.info("embed: serving client traffic securely on \(address) (\(endpoint.url))")
            } else {
                logger.info("embed: serving insecure client requests on \(address), this is strongly discouraged! (\(endpoint.url))")
            }
        }
        logger.info("embed: ready to serve client requests")
        await shutdown.wait()
        // In-flight requests finish; streams that would never end (watches) are cut after a
        // grace period, as etcd's GracefulStop is.
        for listener in listeners { listener.beginGracefulShutdown() }
        housekeeping.cancel()
        publishing.cancel()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for listener in listeners { await listener.closed() }
            }
            group.addTask {
                try? await Task.sleep(for: Self.shutdownGrace)
                for listener in listeners { listener.closeAll() }
            }
            await group.next()
            group.cancelAll()
        }
        core.driver.stop()
        core.transport.shutdown()
        logger.info("etcdserver: stopped serving; WAL synced")
        if shutdown.removed {
            throw StartupError("the member has been permanently removed from the cluster")
        }
    }

    /// How long in-flight requests and open streams get to finish at shutdown.
    static let shutdownGrace = Duration.seconds(2)

    /// Asks `run()` to return.
    package func stop() {
        shutdown.stop(removed: false)
    }

    /// `--experimental-initial-corrupt-check`: before serving clients, compare this member's
    /// HashKV with every peer's at the same revision; a different hash with the same compaction
    /// means the data differ, and this member refuses to serve (etcd's `CheckInitialHashKV`).
    private static func checkInitialHashKV(core: ServerCore) async throws {
        let logger = core.logger
        // The entries the WAL holds after the snapshot are applied first (they may also name the members).
        let recovered = core.driver.raftStatus.commitIndex
        let replayDeadline = ContinuousClock.now + core.driver.requestTimeout
        while core.driver.raftStatus.appliedIndex < recovered && ContinuousClock.now < replayDeadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let local = try core.readViews.current().hashKV(revision: 0)
        logger.info("etcdserver: \(hex(core.identity.memberID)) starting initial corruption check with timeout \(core.driver.requestTimeout)...")
        var request = Etcdserverpb_HashKVRequest()
        request.revision = local.revision
        var mismatches = 0
        for peer in core.members.all where peer.id != core.identity.memberID {
            let hello = PeerHello(stream: .request, clusterID: core.identity.clusterID, from: core.identity.memberID, to: peer.id)
            do {
                let bytes = try await PeerTransport.request(.hashKV, body: try request.serializedBytes(), urls: peer.peerURLs,
                                                            hello: hello, tls: core.transport.tls,
                                                            group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(5))
                let remote = try Etcdserverpb_HashKVResponse(serializedBytes: bytes)
                guard remote.hash != local.hash else { continue }
                if remote.compactRevision == local.compactRevision {
                    logger.error("etcdserver: \(hex(core.identity.memberID))'s hash \(local.hash) != \(hex(peer.id))'s hash \(remote.hash) (revision \(local.revision), peer revision \(remote.header.revision), compact revision \(local.compactRevision))")
                    mismatches += 1
                } else {
                    logger.warning("etcdserver: \(hex(core.identity.memberID)) cannot check hash of peer(\(hex(peer.id))): peer has a different compact revision \(remote.compactRevision) (revision:\(local.revision))")
                }
            } catch let error as ServerError where error.message == MVCCError.futureRevision.grpcMessage {
                logger.warning("etcdserver: \(hex(core.identity.memberID)) cannot check the hash of peer(\(peer.peerURLs)) at revision \(local.revision): peer is lagging behind(\(error))")
            } catch {
                logger.warning("etcdserver: \(hex(core.identity.memberID)) cannot check the hash of peer(\(peer.peerURLs)): \(error)")
            }
        }
        if mismatches > 0 {
            throw StartupError("\(hex(core.identity.memberID)) found data inconsistency with peers")
        }
        logger.info("etcdserver: \(hex(core.identity.memberID)) succeeded on initial corruption checking: no corruption")
    }

    /// Publishes this member's name and client URLs through Raft once it can (etcd's `publish`),
    /// so every member lists them.
    private static func publish(core: ServerCore) async {
        var member = Etcdserverpb_Member()
        member.id = core.identity.memberID
        member.name = core.identity.name
        member.clientUrls = core.identity.clientURLs
        while !Task.isCancelled {
            do {
                _ = try await core.driver.propose(.memberAttributes(member))
                core.logger.info("etcdserver: published {Name:\(member.name) ClientURLs:[\(member.clientUrls.joined(separator: " "))]} to cluster \(hex(core.identity.clusterID))")
                return
            } catch {
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
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

    static func hasWAL(_ directory: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.contains { $0.hasSuffix(".wal") }
    }

    /// The member's clock settings, from its heartbeat and election timeout.
    struct MemberTiming {
        var electionTicks: Int
        var heartbeat: Duration
        var electionTimeout: Duration
        /// etcd's: 5 s plus two election timeouts.
        var requestTimeout: Duration
        /// etcd's minimum lease TTL: 1.5 election timeouts, rounded up to whole seconds.
        var minimumTTL: Int64

        init(_ configuration: ServerConfiguration) {
            let heartbeatMilliseconds = configuration.heartbeatIntervalMilliseconds
            electionTicks = max(2, configuration.electionTimeoutMilliseconds / max(1, heartbeatMilliseconds))
            heartbeat = .milliseconds(heartbeatMilliseconds)
            electionTimeout = .milliseconds(configuration.electionTimeoutMilliseconds)
            requestTimeout = .seconds(5) + electionTimeout * 2
            minimumTTL = max(1, Int64(((3 * electionTicks / 2) * heartbeatMilliseconds + 999) / 1000))
        }
    }

    /// What the WAL's metadata records of the member: written once, at bootstrap.
    struct WALMetadata: Codable {
        var memberID: UInt64
        var clusterID: UInt64
        var name: String
        var peerURLs: [String]
        var voters: [UInt64]
        /// For a member that joined a running cluster: the members it learned from its peers, so
        /// that after a crash before its log or a snapshot told it the membership, a restart can
        /// still reach them (otherwise it could hear the leader but never answer).
        var joinedPeers: [JoinedPeer]? = nil
    }

    struct JoinedPeer: Codable {
        var id: UInt64
        var name: String
        var peerURLs: [String]
        var isLearner: Bool
    }

    private static func raftConfiguration(id: UInt64, electionTicks: Int, applied: UInt64) -> RaftConfiguration {
        RaftConfiguration(id: id, electionTick: electionTicks, heartbeatTick: 1, applied: applied,
                          maxInflightMessages: 512, checkQuorum: true, preVote: true)
    }

    /// A new member of a new cluster (`--initial-cluster-state new`). `walOptions` and
    /// `randomSeed` are the simulation's; a process takes the configuration's and a random one.
    static func bootstrap(configuration: ServerConfiguration, walDirectory: String, lessor: Lessor,
                          alarms: AlarmList, members: ClusterMembers, electionTicks: Int, logger: Logger,
                          walOptions: WriteAheadLog.Options? = nil,
                          randomSeed: UInt64 = .random(in: 1...UInt64.max)) throws -> (RaftDriver.Recovered, MemberIdentity) {
        let membership = try InitialMembership(
            name: configuration.name, initialCluster: configuration.initialCluster,
            advertisedPeerURLs: configuration.initialAdvertisePeerURLs, token: configuration.initialClusterToken)
        let peerURLs = membership.local.peerURLs
        let memberID = membership.local.id
        let initialMembers = membership.members
        let voters = initialMembers.map(\.id)
        let clusterID = membership.clusterID
        let identity = MemberIdentity(memberID: memberID, clusterID: clusterID, name: configuration.name,
                                      peerURLs: peerURLs, clientURLs: configuration.advertiseClientURLs)
        let metadata = WALMetadata(memberID: memberID, clusterID: clusterID, name: configuration.name,
                                   peerURLs: peerURLs, voters: voters)
        let wal = try WriteAheadLog.create(directory: walDirectory, metadata: Array(try JSONEncoder().encode(metadata)),
                                           options: walOptions ?? configuration.walOptions)
        let confState = ConfState(voters: metadata.voters)
        let storage = MemoryStorage(confState: confState)
        // As etcd bootstraps: the initial members are the log's first entries, committed at term 1,
        // so every member's log starts the same and the first election is for term 2.
        let entries = initialMembers.enumerated().map { offset, member in
            Entry(term: 1, index: UInt64(offset + 1), type: .confChange,
                  data: ConfChange(type: .addNode, nodeID: member.id,
                                   context: ConfChangeContext.encode(id: 0, member: member)).encoded())
        }
        let hardState = HardState(term: 1, vote: 0, commit: UInt64(entries.count))
        try wal.save(hardState: hardState, entries: entries, sync: true)
        storage.append(entries)
        storage.setHardState(hardState)
        let store = MVCCStore()
        let applier = Applier(store: store, lessor: lessor, alarms: alarms, members: members, identity: identity,
                              maxTxnOps: configuration.maxTxnOps)
        let node = RawNode(configuration: raftConfiguration(id: memberID, electionTicks: electionTicks, applied: 0),
                           storage: storage, randomSeed: randomSeed)
        logger.info("etcdserver: starting member \(hex(memberID)) in cluster \(hex(clusterID))")
        return (RaftDriver.Recovered(node: node, storage: storage, wal: wal, applier: applier,
                                     confState: confState, snapshotIndex: 0), identity)
    }

    /// A restart from the data directory: the newest usable snapshot, then the WAL after it.
    static func recover(configuration: ServerConfiguration, walDirectory: String,
                        snapshots: SnapshotDirectory, lessor: Lessor, alarms: AlarmList, members: ClusterMembers,
                        electionTicks: Int, logger: Logger, walOptions: WriteAheadLog.Options? = nil,
                        randomSeed: UInt64 = .random(in: 1...UInt64.max)) throws -> (RaftDriver.Recovered, MemberIdentity, [ClusterMember]) {
        let walOptions = walOptions ?? configuration.walOptions
        var (wal, state) = try WriteAheadLog.open(directory: walDirectory, options: walOptions)
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
                (wal, state) = try WriteAheadLog.open(directory: walDirectory, from: snapshotIndex == 0 ? nil : marker,
                                                      options: walOptions)
            } catch {
                throw StartupError("the newest usable snapshot (index \(snapshotIndex)) is older than the WAL's first entries; cannot recover: \(error)")
            }
            if snapshotIndex < state.snapshot?.index ?? 0 {
                throw StartupError("no usable snapshot at or after WAL snapshot marker \(state.snapshot!.index); the data directory cannot be recovered")
            }
        }
        // A snapshot newer than the WAL's newest marker: the member crashed while installing the
        // leader's snapshot, after the file was in place and before the WAL recorded it. The file
        // holds committed state and the entries after it follow in the WAL; record the marker now,
        // or the next restart would look for the entries before the snapshot, which were never
        // written.
        if let snapshot, snapshotIndex > state.snapshot?.index ?? 0 {
            try wal.saveSnapshotMarker(WALSnapshotMarker(index: snapshot.index, term: snapshot.term,
                                                         confState: ConfState(voters: snapshot.voters, learners: snapshot.learners)))
            logger.warning("etcdserver: snapshot at index \(snapshot.index) was not in the WAL (a crash while installing it); recorded it")
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
            members.replace(with: snapshot.members.map(ClusterMember.init))
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
        let hardState = Self.hardState(state.hardState, coveringSnapshot: snapshot.map { ($0.index, $0.term) })
        storage.setHardState(hardState)
        storage.append(state.entries.filter { $0.index > snapshotIndex })
        let applier = Applier(store: store, lessor: lessor, alarms: alarms, members: members, identity: identity,
                              maxTxnOps: configuration.maxTxnOps)
        applier.term = hardState.term
        let node = RawNode(
            configuration: raftConfiguration(id: identity.memberID, electionTicks: electionTicks, applied: snapshotIndex),
            storage: storage, randomSeed: randomSeed)
        logger.info("etcdserver: restarting member \(hex(identity.memberID)) in cluster \(hex(identity.clusterID)) at commit index \(hardState.commit)")
        let seeds = (metadata.joinedPeers ?? []).map {
            ClusterMember(id: $0.id, name: $0.name, peerURLs: $0.peerURLs, clientURLs: [], isLearner: $0.isLearner)
        }
        return (RaftDriver.Recovered(node: node, storage: storage, wal: wal, applier: applier,
                                     confState: confState, snapshotIndex: snapshotIndex), identity, seeds)
    }

    /// The WAL's hard state, raised to the snapshot the member starts from. A member that
    /// installed the leader's snapshot and crashed before its Ready's hard state reached the WAL
    /// (the snapshot is written first, as in etcd) has a snapshot from a term, and committed up to
    /// an index, that its WAL has not recorded yet. Raising the term clears the vote: a vote is
    /// persisted before it is sent, so none was cast in a term the WAL never saw. Without it
    /// Raft would start in an older term than its own log's last entry.
    static func hardState(_ recorded: HardState, coveringSnapshot snapshot: (index: UInt64, term: UInt64)?) -> HardState {
        guard let snapshot else { return recorded }
        var state = recorded
        if state.term < snapshot.term {
            state.term = snapshot.term
            state.vote = 0
        }
        state.commit = max(state.commit, snapshot.index)
        return state
    }

    /// Joins a running cluster (`--initial-cluster-state existing`) that already lists this member
    /// (`etcdctl member add`): asks the other members of `--initial-cluster` for the member list,
    /// finds itself by its peer URLs, and starts with an empty log that the leader will fill.
    private static func join(configuration: ServerConfiguration, walDirectory: String, lessor: Lessor,
                             alarms: AlarmList, members: ClusterMembers, peerTLS: PeerTLS?, electionTicks: Int,
                             logger: Logger) async throws -> (RaftDriver.Recovered, MemberIdentity, [ClusterMember]) {
        let ownURLs = Set(configuration.initialAdvertisePeerURLs.map(InitialMembership.comparable))
        let peerURLs = configuration.initialCluster.map(\.url).filter { !ownURLs.contains(InitialMembership.comparable($0)) }
        guard !peerURLs.isEmpty else {
            throw StartupError("--initial-cluster-state existing needs the other members' peer URLs in --initial-cluster")
        }
        let answer: Etcdserverpb_MemberListResponse
        do {
            let bytes = try await PeerTransport.request(
                .memberList, body: [], urls: peerURLs, hello: PeerHello(stream: .request, clusterID: 0, from: 0, to: 0),
                tls: peerTLS, group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(5))
            answer = try Etcdserverpb_MemberListResponse(serializedBytes: bytes)
        } catch {
            throw StartupError("cannot fetch cluster info from peer urls: \(error)")
        }
        let existing = answer.members.map(ClusterMember.init)
        guard let local = existing.first(where: { Set($0.peerURLs.map(InitialMembership.comparable)) == ownURLs }) else {
            throw StartupError("error validating peerURLs \(configuration.initialAdvertisePeerURLs): no member of cluster \(hex(answer.header.clusterID)) has them; add this member first (etcdctl member add \(configuration.name) --peer-urls=\(configuration.initialAdvertisePeerURLs.joined(separator: ",")))")
        }
        let identity = MemberIdentity(memberID: local.id, clusterID: answer.header.clusterID, name: configuration.name,
                                      peerURLs: local.peerURLs, clientURLs: configuration.advertiseClientURLs)
        let metadata = WALMetadata(
            memberID: local.id, clusterID: answer.header.clusterID, name: configuration.name, peerURLs: local.peerURLs,
            voters: [],
            joinedPeers: existing.map { JoinedPeer(id: $0.id, name: $0.name, peerURLs: $0.peerURLs, isLearner: $0.isLearner) })
        let wal = try WriteAheadLog.create(directory: walDirectory, metadata: Array(try JSONEncoder().encode(metadata)),
                                           options: configuration.walOptions)
        if configuration.failpoints[.crashAfterJoining] != nil {
            logger.critical("etcdserver: failpoint crashAfterJoining: exiting after creating the WAL")
            exit(86)
        }
        let storage = MemoryStorage(confState: ConfState())
        let applier = Applier(store: MVCCStore(), lessor: lessor, alarms: alarms, members: members, identity: identity,
                              maxTxnOps: configuration.maxTxnOps)
        let node = RawNode(configuration: raftConfiguration(id: local.id, electionTicks: electionTicks, applied: 0),
                           storage: storage, randomSeed: UInt64.random(in: 1...UInt64.max))
        logger.info("etcdserver: joining cluster \(hex(identity.clusterID)) as member \(hex(local.id))\(local.isLearner ? " (learner)" : "")")
        return (RaftDriver.Recovered(node: node, storage: storage, wal: wal, applier: applier, confState: ConfState(),
                                     snapshotIndex: 0), identity, existing)
    }

    /// The TLS of each side: from the given certificate and key, or from the self-signed
    /// certificate auto TLS makes at start-up as etcd does; nil for a side without either.
    /// A side whose URLs are https but that has no certificate is refused, as etcd does.
    private static func prepareTLS(_ configuration: ServerConfiguration, logger: Logger) throws
        -> (peer: PeerTLS?, client: ClientTLS?) {
        // Checks this server does not make yet: refused rather than silently skipped.
        for (flag, value) in [("--peer-cert-allowed-cn", configuration.peerCertAllowedCN),
                              ("--peer-cert-allowed-hostname", configuration.peerCertAllowedHostname),
                              ("--peer-crl-file", configuration.peerCRLFile),
                              ("--client-cert-allowed-hostname", configuration.clientCertAllowedHostname),
                              ("--client-crl-file", configuration.clientCRLFile),
                              ("--cipher-suites", configuration.cipherSuites.joined(separator: ","))] where !value.isEmpty {
            throw StartupError("\(flag) is not supported by this server yet")
        }
        let clientFiles = try tlsFiles(
            side: "client", certificate: configuration.certFile, key: configuration.keyFile,
            trustedCA: configuration.trustedCAFile, clientCertAuth: configuration.clientCertAuth,
            autoTLS: configuration.autoTLS, listenURLs: configuration.listenClientURLs,
            httpsURLs: configuration.listenClientURLs, fixtures: configuration.dataDir + "/fixtures/client",
            flags: "--cert-file, --key-file", logger: logger)
        let peerFiles = try tlsFiles(
            side: "peer", certificate: configuration.peerCertFile, key: configuration.peerKeyFile,
            trustedCA: configuration.peerTrustedCAFile, clientCertAuth: configuration.peerClientCertAuth,
            autoTLS: configuration.peerAutoTLS, listenURLs: configuration.listenPeerURLs,
            httpsURLs: configuration.listenPeerURLs + configuration.initialAdvertisePeerURLs
                + configuration.initialCluster.map(\.url),
            fixtures: configuration.dataDir + "/fixtures/peer", flags: "--peer-cert-file, --peer-key-file", logger: logger)
        let clientTLS: ClientTLS?, peerTLS: PeerTLS?
        do {
            clientTLS = try clientFiles.map(ClientTLS.init)
        } catch {
            throw StartupError("cannot load client TLS certificate \(clientFiles!.certificateFile) and key \(clientFiles!.keyFile): \(error)")
        }
        do {
            peerTLS = try peerFiles.map(PeerTLS.init)
        } catch {
            throw StartupError("cannot load peer TLS certificate \(peerFiles!.certificateFile) and key \(peerFiles!.keyFile): \(error)")
        }
        return (peerTLS, clientTLS)
    }

    private static func tlsFiles(
        side: String, certificate: String, key: String, trustedCA: String, clientCertAuth: Bool, autoTLS: Bool,
        listenURLs: [String], httpsURLs: [String], fixtures: String, flags: String, logger: Logger
    ) throws -> MemberTLSFiles? {
        if !certificate.isEmpty && !key.isEmpty {
            if autoTLS { logger.warning("embed: ignoring \(side) auto TLS since certs given") }
            return MemberTLSFiles(certificateFile: certificate, keyFile: key, trustedCAFile: trustedCA,
                                  clientCertAuth: clientCertAuth)
        }
        if autoTLS {
            let hosts = listenURLs.compactMap { URLComponents(string: $0)?.host }
            let files = try SelfSignedCertificate.ensure(in: fixtures, hosts: hosts)
            logger.info("embed: \(side) TLS: self-signed certificate \(files.certificate), key \(files.key)")
            // etcd's auto TLS replaces the whole TLS setting: no CA, no client certificates.
            return MemberTLSFiles(certificateFile: files.certificate, keyFile: files.key, trustedCAFile: "",
                                  clientCertAuth: false)
        }
        if let url = httpsURLs.first(where: { $0.hasPrefix("https://") }) {
            throw StartupError("TLS key/cert (\(flags)) must be provided for \(side) url \(url) with HTTPS scheme")
        }
        return nil
    }

    // MARK: Addresses

    static func listenAddress(_ url: String) throws -> (host: String, port: Int) {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw StartupError("invalid listen URL \(url)")
        }
        switch host {
        case "localhost": return ("127.0.0.1", port)
        case "": return ("0.0.0.0", port)
        default: return (host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port)
        }
    }

    static func describe(_ address: NIOCore.SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    /// Binds every client URL: gRPC and HTTP/1.1 (`/health`, `/version`, `/metrics`) share
    /// each port, as in etcd.
    private func bindClientEndpoints() async throws -> [GRPCListener] {
        let core = core
        let configuration = core.configuration
        let listenerConfiguration = GRPCListener.Configuration(
            // etcd accepts messages up to --max-request-bytes plus gRPC's overhead.
            maximumReceiveMessageBytes: configuration.maxRequestBytes + 512 * 1024,
            maximumConcurrentStreams: Int(min(UInt32(Int32.max), configuration.maxConcurrentStreams)))
        var listeners: [GRPCListener] = []
        do {
            for endpoint in clientEndpoints {
                let tls = endpoint.tls
                let listener = try await GRPCListener.bind(
                    host: endpoint.address.host, port: endpoint.address.port, group: MultiThreadedEventLoopGroup.singleton,
                    table: methods, configuration: listenerConfiguration
                ) { channel in
                    let handler = ClientPortHandler { method, target in
                        await HTTPEndpoints(core: core).answer(method: method, target: target)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                    }
                }
                listeners.append(listener)
            }
        } catch {
            for listener in listeners { listener.closeAll() }
            throw StartupError("listen tcp \(clientEndpoints[listeners.count].address.host):\(clientEndpoints[listeners.count].address.port): \(error)")
        }
        return listeners
    }
}

/// Ends `run()`: asked for by a signal, or by this member's removal from the cluster.
final class ShutdownTrigger: Sendable {
    private let state = Mutex<(requested: Bool, removed: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, false, nil))

    var removed: Bool { state.withLock { $0.removed } }

    func stop(removed: Bool) {
        let continuation = state.withLock { state in
            state.requested = true
            if removed { state.removed = true }
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let alreadyStopped = state.withLock { state in
                if state.requested { return true }
                state.continuation = continuation
                return false
            }
            if alreadyStopped { continuation.resume() }
        }
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

extension ServerConfiguration {
    /// The WAL's options: etcd's `--unsafe-no-fsync`, and the disk faults a test switched on.
    var walOptions: WriteAheadLog.Options {
        var faults = WriteAheadLog.DiskFaults()
        faults.unsyncedWritesLostOnKill = failpoints[.walUnsyncedWritesLostOnKill] != nil
        faults.failSync = failpoints[.walSyncFails]
        faults.tornWrite = failpoints[.walTornWrite]
        return WriteAheadLog.Options(syncs: !unsafeNoFsync, faults: faults)
    }
}
