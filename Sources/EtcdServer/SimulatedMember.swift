import BTreeStore
import Foundation
import Logging
import Raft
import SnapshotFile
import WAL

/// One member of the whole-server simulation: the recovery, Raft driver, WAL, snapshots and
/// apply of a real member, without its network services or threads. The simulation delivers its
/// messages, gives it the time, and runs its loop one cycle at a time, so that many members run
/// in one process and a seed replays exactly.
package final class SimulatedMember {
    package let driver: RaftDriver
    package let memberID: UInt64
    package let snapshots: SnapshotDirectory

    /// Opens the data directory as a process would (recovering from the WAL and the newest usable
    /// snapshot, or bootstrapping the initial cluster); only `--initial-cluster-state new`.
    /// - Parameters:
    ///   - transport: where its messages go.
    ///   - clock: the simulated time, read by the driver and its deadlines.
    ///   - wallClock: the simulated date, from which request ids start (they must differ across
    ///     restarts, so it must move on with the simulation, not restart with the member).
    ///   - walFaults: the disk's faults; always with `simulated` set.
    ///   - randomSeed: Raft's election timeouts.
    /// When its WAL fails, `driver.cycle()` returns false: the member is dead.
    package init(configuration: ServerConfiguration, transport: any RaftMessageTransport,
                 clock: @escaping @Sendable () -> ContinuousClock.Instant, wallClock: @escaping @Sendable () -> Date,
                 walFaults: WriteAheadLog.DiskFaults,
                 randomSeed: UInt64, logger: Logger) throws {
        let timing = EtcdServer.MemberTiming(configuration)
        let memberDirectory = configuration.dataDir + "/member"
        let walDirectory = memberDirectory + "/wal"
        snapshots = try SnapshotDirectory(path: memberDirectory + "/snap")
        try snapshots.removeInterruptedReceives()
        var faults = walFaults
        faults.simulated = true
        let walOptions = WriteAheadLog.Options(syncs: !configuration.unsafeNoFsync, faults: faults)
        let lessor = Lessor(minimumTTL: timing.minimumTTL)
        let members = ClusterMembers()
        let recovered: RaftDriver.Recovered
        let identity: MemberIdentity
        if EtcdServer.hasWAL(walDirectory) {
            (recovered, identity, _) = try EtcdServer.recover(
                configuration: configuration, walDirectory: walDirectory, snapshots: snapshots, lessor: lessor,
                alarms: AlarmList(), members: members, electionTicks: timing.electionTicks, logger: logger,
                walOptions: walOptions, randomSeed: randomSeed)
        } else {
            (recovered, identity) = try EtcdServer.bootstrap(
                configuration: configuration, walDirectory: walDirectory, lessor: lessor, alarms: AlarmList(),
                members: members, electionTicks: timing.electionTicks, logger: logger, walOptions: walOptions,
                randomSeed: randomSeed)
        }
        memberID = identity.memberID
        driver = RaftDriver(
            recovered: recovered, snapshots: snapshots, identity: identity, members: members, seeds: [],
            transport: transport, logger: logger, metrics: ServerMetrics(), tickInterval: timing.heartbeat,
            requestTimeout: timing.requestTimeout, electionTimeout: timing.electionTimeout,
            snapshotCount: configuration.snapshotCount, maxRequestBytes: configuration.maxRequestBytes,
            environment: DriverEnvironment(now: clock, wallClock: wallClock, runInBackground: { _, work in work() },
                                           persistFailed: { _ in }, retainedEntries: 50),
            removed: {})
        driver.begin()
    }

    /// The applied store, as a linearizable read sees it once its barrier has passed.
    package var store: MVCCStore { driver.applier.store }
}
