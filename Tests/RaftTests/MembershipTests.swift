import Testing
@testable import Raft

@Suite struct MembershipTests {
    @Test func learnerReceivesTheLogButNeverVotesOrCampaigns() throws {
        let (one, _) = makeRaftNode(id: 1, peers: [1, 2], learners: [3])
        let (two, _) = makeRaftNode(id: 2, peers: [1, 2], learners: [3])
        let (three, _) = makeRaftNode(id: 3, peers: [1, 2], learners: [3])
        let network = TestNetwork(nodes: [one, two, three])
        network.campaign(1)
        #expect(network.delivered.allSatisfy { $0.type != .vote || $0.to != 3 })
        network.propose(1)
        #expect(three.log.committed == 2)
        three.tick(100)
        #expect(three.state == .follower)
        #expect(three.takeMessages().isEmpty)
    }

    @Test func learnersDoNotCountTowardCommit() throws {
        let (one, _) = makeRaftNode(id: 1, peers: [1, 2], learners: [3])
        let (three, _) = makeRaftNode(id: 3, peers: [1, 2], learners: [3])
        let network = TestNetwork(nodes: [one, three])
        network.campaign(1)
        network.send([Message(type: .voteResponse, to: 1, from: 2, term: 1)])
        network.propose(1)
        // The learner holds everything, but voter 2 does not: nothing commits.
        #expect(three.log.lastIndex == 2)
        #expect(one.log.committed == 0)
    }

    @Test func promotingALearnerMakesItAVoter() {
        let (node, _) = makeRaftNode(id: 1, peers: [1], learners: [2])
        let conf = node.applyConfChange(ConfChange(type: .addNode, nodeID: 2))
        #expect(conf == ConfState(voters: [1, 2]))
        #expect(node.tracker.progress[2]?.isLearner == false)
    }

    @Test func addingAndRemovingMembersChangesTheQuorum() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        _ = leader.applyConfChange(ConfChange(type: .addNode, nodeID: 4))
        #expect(leader.tracker.voters.ids == [1, 2, 3, 4])
        #expect(leader.tracker.progress[4] != nil)
        _ = leader.applyConfChange(ConfChange(type: .removeNode, nodeID: 4))
        _ = leader.applyConfChange(ConfChange(type: .removeNode, nodeID: 3))
        #expect(leader.tracker.voters.ids == [1, 2])
        // With 3 removed, an entry held by 1 and 2 commits.
        network.isolate(3)
        network.propose(1)
        #expect(leader.log.committed == 2)
    }

    @Test func removingAVoterCanCommitPendingEntries() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(2)
        network.isolate(3)
        network.propose(1)
        let leader = network.nodes[1]!
        #expect(leader.log.committed == 1)
        _ = leader.applyConfChange(ConfChange(type: .removeNode, nodeID: 2))
        _ = leader.applyConfChange(ConfChange(type: .removeNode, nodeID: 3))
        // The remaining single voter holds entry 2 alone: it commits on the configuration change.
        #expect(leader.log.committed == 2)
    }

    @Test func leaderRemovingItselfStepsDown() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        _ = leader.applyConfChange(ConfChange(type: .removeNode, nodeID: 1))
        #expect(leader.state == .follower)
        // No longer a voter: it never campaigns again.
        leader.tick(100)
        #expect(leader.state == .follower)
        #expect(throws: RaftError.proposalDropped(.noLeader)) {
            try leader.step(Message(type: .propose, from: 1, entries: [Entry(data: [1])]))
        }
    }

    @Test func onlyOneConfChangeIsPendingAtATime() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        let change = ConfChange(type: .addLearnerNode, nodeID: 4)
        try leader.step(Message(type: .propose, from: 1, entries: [Entry(type: .confChange, data: change.encoded())]))
        try leader.step(Message(type: .propose, from: 1, entries: [Entry(type: .confChange, data: change.encoded())]))
        let tail = try leader.log.slice(from: 2, to: 4, maxSize: .max)
        #expect(tail.map(\.type) == [.confChange, .normal])
        #expect(leader.pendingConfIndex == 2)
    }

    @Test func newLeaderRefusesConfChangesUntilItCommitsInItsTerm() throws {
        let network = TestNetwork([1, 2, 3])
        network.droppedTypes = [.appendResponse]
        network.campaign(1)
        let leader = network.nodes[1]!
        #expect(leader.state == .leader)
        #expect(leader.log.committed == 0)
        let change = ConfChange(type: .removeNode, nodeID: 3)
        try leader.step(Message(type: .propose, from: 1, entries: [Entry(type: .confChange, data: change.encoded())]))
        #expect(try leader.log.slice(from: 2, to: 3, maxSize: .max).map(\.type) == [.normal])
    }

    @Test func confChangeRoundTripsThroughItsEncoding() {
        let change = ConfChange(type: .addLearnerNode, nodeID: 0x0102_0304_0506_0708, context: [1, 2, 3])
        #expect(ConfChange(decoding: change.encoded()) == change)
        #expect(ConfChange(decoding: [9]) == nil)
    }

    @Test func nodeDoesNotCampaignWithUnappliedConfChange() throws {
        let (node, storage) = makeRaftNode(id: 1, peers: [1, 2, 3])
        storage.append([Entry(term: 1, index: 1, type: .confChange, data: ConfChange(type: .removeNode, nodeID: 1).encoded())])
        let restarted = RaftNode(configuration: RaftConfiguration(id: 1, preVote: false), storage: storage,
                                 randomNumberGenerator: SeededRandomNumberGenerator(seed: 1))
        _ = node
        restarted.log.commit(to: 1)
        try restarted.step(Message(type: .hup, from: 1))
        #expect(restarted.state == .follower)
    }
}
