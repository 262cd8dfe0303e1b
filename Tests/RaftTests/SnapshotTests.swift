import Testing
@testable import Raft

@Suite struct SnapshotTests {
    /// A follower whose next entry the leader compacted away receives the snapshot, then entries.
    @Test func followerBehindCompactionReceivesTheSnapshot() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(3)
        for value in 0..<5 { network.propose(1, [UInt8(value)]) }
        let leader = network.nodes[1]!
        let storage = network.storages[1]!
        // Persist and compact the leader's log through its commit index.
        storage.append(leader.log.unstableEntries)
        leader.log.stableTo(index: leader.log.lastIndex, term: leader.term)
        leader.appliedTo(leader.log.committed)
        try storage.createSnapshot(index: leader.log.committed, confState: ConfState(voters: [1, 2, 3]), data: [9])
        try storage.compact(through: leader.log.committed)
        network.recover()
        network.propose(1, [99])
        let snapshots = network.delivered.filter { $0.type == .snapshot }
        #expect(snapshots.count == 1)
        #expect(snapshots.first?.snapshot?.data == [9])
        let follower = network.nodes[3]!
        #expect(follower.log.lastIndex == leader.log.lastIndex)
        #expect(follower.log.committed == leader.log.committed)
        #expect(try network.storages[3]!.snapshot().metadata.index == 6)
    }

    @Test func snapshotStatePausesUntilStatusIsReported() throws {
        let network = TestNetwork([1, 2])
        network.campaign(1)
        let progress = network.nodes[1]!.tracker.progress[2]!
        progress.becomeSnapshot(index: 10)
        #expect(progress.isPaused)
        try network.nodes[1]!.step(Message(type: .snapshotStatus, from: 2, reject: false))
        #expect(progress.state == .probe)
        #expect(progress.next == 11)
        // Still paused until a heartbeat response shows the follower is ready.
        #expect(progress.isPaused)
        progress.becomeSnapshot(index: 10)
        try network.nodes[1]!.step(Message(type: .snapshotStatus, from: 2, reject: true))
        #expect(progress.state == .probe)
        #expect(progress.next == progress.match + 1)
    }

    @Test func followerIgnoresSnapshotOlderThanItsCommit() throws {
        let (node, _) = makeRaftNode(id: 2, peers: [1, 2], logTerms: [1, 1, 1], hardState: HardState(term: 1, commit: 3))
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 2, term: 1, confState: ConfState(voters: [1, 2])))
        try node.step(Message(type: .snapshot, to: 2, from: 1, term: 1, snapshot: snapshot))
        #expect(node.log.unstable.snapshot == nil)
        #expect(node.takeMessages().last?.index == 3)
    }

    @Test func snapshotMatchingTheLogOnlyFastForwardsCommit() throws {
        let (node, _) = makeRaftNode(id: 2, peers: [1, 2], logTerms: [1, 1, 1], hardState: HardState(term: 1, commit: 1))
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 3, term: 1, confState: ConfState(voters: [1, 2])))
        try node.step(Message(type: .snapshot, to: 2, from: 1, term: 1, snapshot: snapshot))
        #expect(node.log.unstable.snapshot == nil)
        #expect(node.log.committed == 3)
    }

    @Test func snapshotRestoresTheMembership() throws {
        let (node, _) = makeRaftNode(id: 2, peers: [1, 2], logTerms: [1], hardState: HardState(term: 1))
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 10, term: 1, confState: ConfState(voters: [1, 2, 3], learners: [4])))
        try node.step(Message(type: .snapshot, to: 2, from: 1, term: 1, snapshot: snapshot))
        #expect(node.tracker.confState == ConfState(voters: [1, 2, 3], learners: [4]))
        #expect(node.log.committed == 10)
        #expect(node.log.lastIndex == 10)
    }
}
