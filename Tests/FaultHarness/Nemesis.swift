import EtcdClient
import Foundation
import TestSupport

/// The fault schedule of a harness run: one fault at a time, each healed before the next, chosen
/// by a seeded generator. Holds the cluster, whose members it replaces as it restarts or swaps
/// them (a swapped-in member keeps its predecessor's ports), and a client of its own.
package struct Nemesis {
    package enum Kind: String, CaseIterable, Sendable {
        /// SIGKILL and restart, or SIGSTOP past the election timeout, half of them on the leader;
        /// all members killed at once; a member replaced (removed, wiped, a new one added).
        case killsAndPauses
        /// SIGSTOP of a member that is not the leader, for 4.5 to 5 s (past the clients' 2 s deadline).
        case followerPauses
        /// Needs a `NetworkLab`: the leader or another member cut off from the rest (with five
        /// members, sometimes together with a second member), one link cut both ways or one way
        /// (the member between them bridges), a member's packets throttled to 64-512 kbit/s with
        /// drops past 50-250 ms of queueing, or a kill or pause as above; each held for 1.5 to 3 s,
        /// then healed.
        case partitionsAndLinks
        /// Our server only, every member with `walUnsyncedWritesLostOnKill` so that each kill is
        /// a power failure: kills (one member, the leader, all at once), pauses, a failed fsync,
        /// a torn WAL write, a crash before a snapshot's rename, a bit flip in a WAL record or in
        /// the newest snapshot file, and member replacement (which is also how a member refusing
        /// its damaged data directory is repaired).
        case crashesAndDisks
        /// Every member killed at once, each time once the cluster serves again and has taken
        /// writes for 0.5 to 1.5 s.
        case powerFailures
    }

    package private(set) var cluster: EtcdCluster
    package let observer: EtcdClient
    package private(set) var faults: [String] = []
    /// What a fault showed wrong by itself (a member serving on with a damaged WAL).
    package private(set) var violations: [String] = []
    private let kind: Kind
    private let lab: NetworkLab?
    private let directory: TemporaryDirectory
    private let executable: String
    private let extraArguments: [String]
    private let environment: [String: String]
    private var random: SeededGenerator
    private var nextMemberNumber: Int
    /// The faults of a kind that deals them from a deck: each once, in a seeded order, then again.
    private var deck: [Fault] = []
    private var dealt = 0

    private enum Fault: CaseIterable {
        case pause, kill, killAll, walSyncFails, walTornWrite, snapshotCrash, walBitFlip, snapshotBitFlip, replace
    }

    /// Whether every fault of the deck was dealt at least once (always true for other kinds).
    package var dealtEveryFault: Bool { kind != .crashesAndDisks || dealt >= Fault.allCases.count }

    package init(kind: Kind, cluster: EtcdCluster, lab: NetworkLab?, directory: TemporaryDirectory, executable: String,
         extraArguments: [String], environment: [String: String], seed: UInt64) throws {
        self.kind = kind
        self.cluster = cluster
        self.lab = lab
        self.directory = directory
        self.executable = executable
        self.extraArguments = extraArguments
        self.environment = environment
        random = SeededGenerator(seed: seed)
        nextMemberNumber = cluster.members.count + 1
        observer = try RegisterHarness.client(cluster, startingAt: 0)
    }

    private var size: Int { cluster.members.count }

    private mutating func roll(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }

    /// Waits 0.5 to 1.5 s, then injects one fault and heals it.
    package mutating func strike() async throws {
        try await Task.sleep(for: .milliseconds(500 + roll(1000)))
        var victim = roll(size)
        let leader = await RegisterHarness.leader(of: cluster, asking: observer)
        switch kind {
        case .followerPauses:
            if victim == leader { victim = (victim + 1) % size }
            try await pause(victim, milliseconds: 4500 + roll(500))
            return
        case .powerFailures:
            // Only once the cluster serves again and has taken writes for a moment: a power
            // failure then always finds acknowledged writes that must survive it.
            await waitUntilHealthy(excluding: nil)
            try await Task.sleep(for: .milliseconds(500 + roll(1000)))
            try await killAll()
            return
        case .killsAndPauses, .partitionsAndLinks, .crashesAndDisks:
            if roll(2) == 0, let leader { victim = leader }
        }
        let role = victim == leader ? " (leader)" : ""
        switch kind {
        case .followerPauses, .powerFailures:
            break
        case .partitionsAndLinks:
            if let lab, roll(4) != 0 {
                try await partition(victim, role: role, in: lab)
            } else if roll(3) == 0 {
                try await pause(victim, milliseconds: 1500 + roll(1000))
            } else {
                try await kill(victim, role: role)
            }
        case .killsAndPauses:
            switch roll(9) {
            case 0..<3: try await pause(victim, milliseconds: 1500 + roll(1000))
            case 3..<7: try await kill(victim, role: role)
            case 7: try await killAll()
            default: try await replace(victim, role: role, reason: "membership change")
            }
        case .crashesAndDisks:
            if deck.isEmpty { deck = Fault.allCases.shuffled(using: &random) }
            dealt += 1
            switch deck.removeLast() {
            case .pause: try await pause(victim, milliseconds: 1500 + roll(1000))
            case .kill: try await kill(victim, role: role)
            case .killAll: try await killAll()
            case .walSyncFails: try await crashByFailpoint(victim, role: role, "walSyncFails=\(20 + roll(200))")
            case .walTornWrite: try await crashByFailpoint(victim, role: role, "walTornWrite=\(20 + roll(200))")
            case .snapshotCrash: try await crashByFailpoint(victim, role: role, "snapshotCrashBeforeRename=1")
            case .walBitFlip: try await flipWALBit(victim, role: role)
            case .snapshotBitFlip: try await flipSnapshotBit(victim, role: role)
            case .replace: try await replace(victim, role: role, reason: "membership change")
            }
        }
    }

    // MARK: Processes

    private mutating func pause(_ victim: Int, milliseconds: Int) async throws {
        let member = cluster.members[victim]
        faults.append("pause \(member.name)")
        member.process.send(SIGSTOP)
        try await Task.sleep(for: .milliseconds(milliseconds))
        member.process.send(SIGCONT)
    }

    private mutating func kill(_ victim: Int, role: String) async throws {
        let member = cluster.members[victim]
        faults.append("kill \(member.name)\(role)")
        await Self.kill(member)
        try await Task.sleep(for: .milliseconds(200 + roll(800)))
        cluster.members[victim] = try member.relaunched()
        await checkRestart(victim, after: "kill")
    }

    /// A member restarted after a crash must recover from whatever the crash left: one that exits
    /// within a few seconds (it refused its own data) is a finding, not a fault to count.
    private mutating func checkRestart(_ victim: Int, after fault: String) async {
        let member = cluster.members[victim]
        if await Self.waitForExit(member.process, within: .seconds(3)) {
            let reason = member.process.logTail(lines: 3).split(separator: "\n").last.map(String.init) ?? ""
            violations.append("\(member.name) did not come back after \(fault): \(reason)")
        }
    }

    /// Every member at once: with `walUnsyncedWritesLostOnKill`, a power failure of the whole cluster.
    private mutating func killAll() async throws {
        faults.append("kill all")
        for member in cluster.members { member.process.send(SIGKILL) }
        for member in cluster.members { await member.stop() }
        try await Task.sleep(for: .milliseconds(200 + roll(800)))
        for index in cluster.members.indices { cluster.members[index] = try cluster.members[index].relaunched() }
    }

    /// Restarts the member with one more failpoint, which must end the process within 15 s; then
    /// starts it again without, and it must recover from what the failpoint left.
    private mutating func crashByFailpoint(_ victim: Int, role: String, _ failpoint: String) async throws {
        let member = cluster.members[victim]
        await Self.kill(member)
        var faulty = environment
        faulty[Self.failpointVariable] = (environment[Self.failpointVariable].map { $0 + "," } ?? "") + failpoint
        let crashing = try member.relaunched(environment: faulty)
        let struck = await Self.waitForExit(crashing.process, within: .seconds(15))
        if !struck { await crashing.stop() }
        faults.append("\(failpoint) on \(member.name)\(role)\(struck ? "" : " (did not strike in 15 s)")")
        cluster.members[victim] = try crashing.relaunched(environment: environment)
        await checkRestart(victim, after: failpoint)
    }

    // MARK: Damaged data

    /// Flips one bit in a WAL record before the last one of the newest segment: the member must
    /// refuse to start (never serve from a log it cannot trust), and is then replaced.
    private mutating func flipWALBit(_ victim: Int, role: String) async throws {
        let member = cluster.members[victim]
        await Self.kill(member)
        guard let (path, bytes) = Self.newestFile(in: member.dataDir + "/member/wal", endingWith: ".wal"),
              case let records = Self.recordRanges(bytes), records.count >= 2 else {
            faults.append("kill \(member.name)\(role) (no WAL records to damage)")
            cluster.members[victim] = try member.relaunched()
            return
        }
        let record = records[roll(records.count - 1)]
        let position = try flipBit(in: bytes, at: record.lowerBound + roll(record.count), writingTo: path)
        let file = URL(fileURLWithPath: path).lastPathComponent
        let restarted = try member.relaunched()
        if await Self.waitForExit(restarted.process, within: .seconds(15)) {
            faults.append("WAL bit flip at \(file)+\(position) on \(member.name)\(role): refused")
        } else {
            violations.append("\(member.name) started with a bit flipped at \(file)+\(position) in its WAL")
            await restarted.stop()
        }
        cluster.members[victim] = restarted
        try await replace(victim, role: role, reason: "repair")
    }

    /// Flips one bit in the middle of the newest snapshot file. The member may start from an older
    /// snapshot and its WAL (the checkers then judge what it serves) or refuse; if it refuses it
    /// is replaced.
    private mutating func flipSnapshotBit(_ victim: Int, role: String) async throws {
        let member = cluster.members[victim]
        await Self.kill(member)
        guard let (path, bytes) = Self.newestFile(in: member.dataDir + "/member/snap", endingWith: ".snap.db"),
              bytes.count > 8192 else {
            faults.append("kill \(member.name)\(role) (no snapshot to damage)")
            cluster.members[victim] = try member.relaunched()
            return
        }
        // Past SQLite's first page (its header), where the rows are.
        let position = try flipBit(in: bytes, at: 4096 + roll(bytes.count - 4096), writingTo: path)
        let file = URL(fileURLWithPath: path).lastPathComponent
        let restarted = try member.relaunched()
        cluster.members[victim] = restarted
        if await Self.waitForExit(restarted.process, within: .seconds(8)) {
            faults.append("snapshot bit flip at \(file)+\(position) on \(member.name)\(role): refused")
            try await replace(victim, role: role, reason: "repair")
        } else {
            let detected = restarted.process.logTail(lines: 400).contains("skipping unusable snapshot")
            faults.append("snapshot bit flip at \(file)+\(position) on \(member.name)\(role): "
                          + (detected ? "detected, started from an older snapshot" : "in unused bytes, started"))
        }
    }

    /// The path and bytes of the last file in `directory` (by name) whose name ends with `suffix`.
    private static func newestFile(in directory: String, endingWith suffix: String) -> (String, [UInt8])? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory))?
            .filter { $0.hasSuffix(suffix) }.sorted() ?? []
        guard let newest = names.last, let data = FileManager.default.contents(atPath: directory + "/" + newest) else {
            return nil
        }
        return (directory + "/" + newest, Array(data))
    }

    /// Flips a random bit of the byte at `position` and writes the bytes to `path`; returns `position`.
    private mutating func flipBit(in bytes: [UInt8], at position: Int, writingTo path: String) throws -> Int {
        var damaged = bytes
        damaged[position] ^= UInt8(1) << UInt8(roll(8))
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        return position
    }

    // MARK: Membership

    /// Removes the member from the cluster, wipes it, and adds a new member with a new name and
    /// data directory in its place, on the same ports (etcd's way to repair a member whose data
    /// is lost).
    private mutating func replace(_ victim: Int, role: String, reason: String) async throws {
        let old = cluster.members[victim]
        await waitUntilHealthy(excluding: victim)
        let list = await Self.retry { [observer] in try await observer.memberList() }
        guard let id = list?.members.first(where: { $0.name == old.name })?.id,
              await Self.retry({ [observer] in try await observer.memberRemove(id: id) }) != nil else {
            faults.append("\(reason): removing \(old.name) failed; restarted instead")
            await old.stop()
            cluster.members[victim] = try old.relaunched()
            return
        }
        await old.stop()
        try? FileManager.default.removeItem(atPath: old.dataDir)
        // The new member takes over the old one's ports: the clients, which know the members by
        // their endpoints, then reach it as they reached its predecessor.
        let name = "n\(nextMemberNumber)"
        nextMemberNumber += 1
        let peerURL = old.peerURL
        guard await Self.retry({ [observer] in try await observer.memberAdd(peerURLs: [peerURL]) }) != nil else {
            throw HarnessError("\(reason): removed \(old.name)\(role), but adding \(name) failed for 20 s")
        }
        let others = cluster.members.indices.filter { $0 != victim }.map { cluster.members[$0] }
        let initialCluster = (others.map { "\($0.name)=\($0.peerURL)" } + ["\(name)=\(peerURL)"]).joined(separator: ",")
        cluster.members[victim] = try EtcdMember.launch(
            name: name, clientPort: old.clientPort, peerPort: old.peerPort, initialCluster: initialCluster, token: "",
            state: "existing", executable: executable, extraArguments: extraArguments, directory: directory,
            environment: environment)
        faults.append("\(reason): replaced \(old.name)\(role) by \(name)")
    }

    /// Waits up to 10 s until every member but `excluding` answers `/health` with true.
    private func waitUntilHealthy(excluding: Int?) async {
        let deadline = ContinuousClock.now + .seconds(10)
        for (index, member) in cluster.members.enumerated() where index != excluding {
            while ContinuousClock.now < deadline {
                if let response = try? HTTPProbe.get(host: member.host, port: member.clientPort, path: "/health"),
                   response.body.contains("\"health\":\"true\"") { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: Helpers

    package static let failpointVariable = "SWIFT_ETCD_FAILPOINTS"

    /// Tries `call` every 300 ms for up to 20 s: a leader may be changing, and etcd refuses a
    /// membership change until every member has been connected for 5 s (its `HealthInterval`),
    /// which a member restarted by the previous fault may not yet be.
    package static func retry<T>(_ call: () async throws -> T) async -> T? {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let value = try? await call() { return value }
            try? await Task.sleep(for: .milliseconds(300))
        }
        return nil
    }

    /// SIGKILL, then reaps the process.
    package static func kill(_ member: EtcdMember) async {
        member.process.send(SIGKILL)
        await member.stop()
    }

    static func waitForExit(_ process: ChildProcess, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if !process.isRunning { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return !process.isRunning
    }

    /// The byte ranges of a WAL segment's records: a 16-byte header whose first four bytes are the
    /// payload's length (little-endian) and fifth the record type, then the payload.
    static func recordRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16
                | Int(bytes[offset + 3]) << 24
            if bytes[offset + 4] == 0 || offset + 16 + length > bytes.count { break }
            ranges.append(offset..<(offset + 16 + length))
            offset += 16 + length
        }
        return ranges
    }

    // MARK: Network

    private mutating func partition(_ victim: Int, role: String, in lab: NetworkLab) async throws {
        let member = cluster.members[victim]
        let hold = Duration.milliseconds(1500 + roll(1500))
        switch roll(3) {
        case 0 where size >= 5 && roll(2) == 0:
            // Two members (with the victim) against the rest: a minority that is not alone.
            let other = (victim + 1 + roll(size - 1)) % size
            faults.append("isolate \(member.name)\(role) with \(cluster.members[other].name)")
            try lab.partition([[victim, other], (0..<size).filter { $0 != victim && $0 != other }])
            try await Task.sleep(for: hold)
            try lab.heal()
        case 0:
            faults.append("isolate \(member.name)\(role)")
            try lab.isolate(victim)
            try await Task.sleep(for: hold)
            try lab.heal()
        case 1 where roll(3) == 0:
            let other = (victim + 1 + roll(size - 1)) % size
            faults.append("cut \(member.name)->\(cluster.members[other].name) one way")
            try lab.drop(from: victim, to: other)
            try await Task.sleep(for: hold)
            try lab.heal()
        case 1:
            let other = (victim + 1 + roll(size - 1)) % size
            faults.append("cut \(member.name)-\(cluster.members[other].name)")
            try lab.cut(victim, other)
            try await Task.sleep(for: hold)
            try lab.heal()
        default:
            guard lab.canThrottle else { return }
            let rate = 64 << roll(4), delay = 50 + roll(200)
            faults.append("throttle \(member.name) \(rate)kbit \(delay)ms")
            try lab.throttle(victim, kilobitsPerSecond: rate, maximumDelayMilliseconds: delay)
            try await Task.sleep(for: hold)
            try lab.unthrottle(victim)
        }
    }
}

/// The harness itself could not go on (not a finding about the server).
package struct HarnessError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
