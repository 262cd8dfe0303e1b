import Testing
@testable import Raft

@Suite struct LeaderTransferTests {
    @Test func transferToAnUpToDateFollower() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.send([Message(type: .transferLeader, to: 1, from: 2)])
        #expect(network.nodes[2]!.state == .leader)
        #expect(network.nodes[1]!.state == .follower)
        #expect(network.nodes[1]!.lead == 2)
    }

    @Test func transferCatchesTheTransfereeUpFirst() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(3)
        network.propose(1)
        network.recover()
        network.send([Message(type: .transferLeader, to: 1, from: 3)])
        #expect(network.nodes[3]!.state == .leader)
        #expect(network.nodes[3]!.log.lastIndex == 3)
    }

    @Test func proposalsAreRefusedDuringTransfer() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(3)
        // Stepped directly: the request names the transferee in `from`, which is cut off.
        try network.nodes[1]!.step(Message(type: .transferLeader, to: 1, from: 3))
        #expect(network.nodes[1]!.leadTransferee == 3)
        #expect(throws: RaftError.proposalDropped(.leaderTransferInProgress)) {
            try network.nodes[1]!.step(Message(type: .propose, from: 1, entries: [Entry(data: [1])]))
        }
    }

    @Test func transferIsAbandonedAfterAnElectionTimeout() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(3)
        try? network.nodes[1]!.step(Message(type: .transferLeader, to: 1, from: 3))
        #expect(network.nodes[1]!.leadTransferee == 3)
        network.nodes[1]!.tick(10)
        #expect(network.nodes[1]!.leadTransferee == 0)
        #expect(network.nodes[1]!.state == .leader)
    }

    @Test func transferOverridesLeaderStickiness() {
        let network = TestNetwork([1, 2, 3]) { $0.checkQuorum = true }
        network.campaign(1)
        network.send([Message(type: .transferLeader, to: 1, from: 3)])
        #expect(network.nodes[3]!.state == .leader)
    }

    @Test func followerForwardsTransferRequests() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.send([Message(type: .transferLeader, to: 2, from: 3)])
        #expect(network.nodes[3]!.state == .leader)
    }
}
