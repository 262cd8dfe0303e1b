import Testing
@testable import Raft

@Suite struct ReadIndexTests {
    @Test func leaderConfirmsReadsWithAHeartbeatQuorum() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.send([Message(type: .readIndex, to: 1, context: [7])])
        let leader = network.nodes[1]!
        #expect(leader.readStates == [ReadState(index: 1, requestContext: [7])])
    }

    @Test func readsWaitWhileNoQuorumAnswers() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.isolate(1)
        network.send([Message(type: .readIndex, to: 1, context: [7])])
        #expect(network.nodes[1]!.readStates.isEmpty)
    }

    @Test func oneHeartbeatRoundConfirmsAllEarlierReads() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        try leader.step(Message(type: .readIndex, context: [1]))
        try leader.step(Message(type: .readIndex, context: [2]))
        _ = leader.takeMessages()
        // Acks for the second request's heartbeat confirm both.
        try leader.step(Message(type: .heartbeatResponse, from: 2, term: leader.term, context: [2]))
        #expect(leader.readStates.map(\.requestContext) == [[1], [2]])
    }

    @Test func followerReadIsForwardedAndAnswered() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.propose(1)
        network.send([Message(type: .readIndex, to: 2, context: [5])])
        #expect(network.nodes[2]!.readStates == [ReadState(index: 2, requestContext: [5])])
    }

    @Test func newLeaderDefersReadsUntilItCommitsInItsTerm() throws {
        let network = TestNetwork([1, 2, 3]) { $0.checkQuorum = false }
        network.campaign(1)
        let leader = network.nodes[1]!
        network.droppedTypes = [.appendResponse]
        network.campaign(2)
        let newLeader = network.nodes[2]!
        #expect(newLeader.state == .leader)
        try newLeader.step(Message(type: .readIndex, context: [3]))
        #expect(newLeader.readStates.isEmpty)
        network.recover()
        // The lost append responses left the followers paused in probe state; a heartbeat resumes them.
        network.send([Message(type: .beat, to: 2, from: 2)])
        #expect(newLeader.readStates.map(\.requestContext) == [[3]])
        _ = leader
    }

    @Test func singleVoterAnswersReadsAtOnce() throws {
        let network = TestNetwork([1])
        network.campaign(1)
        try network.nodes[1]!.step(Message(type: .readIndex, context: [1]))
        #expect(network.nodes[1]!.readStates == [ReadState(index: 1, requestContext: [1])])
    }

    @Test func leaseBasedReadsAnswerWithoutHeartbeats() throws {
        let network = TestNetwork([1, 2, 3]) { $0.readOnlyOption = .leaseBased }
        network.campaign(1)
        try network.nodes[1]!.step(Message(type: .readIndex, context: [1]))
        #expect(network.nodes[1]!.readStates.count == 1)
        #expect(network.nodes[1]!.takeMessages().isEmpty)
    }
}
