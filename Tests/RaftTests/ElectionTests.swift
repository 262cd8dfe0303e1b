import Testing
@testable import Raft

@Suite struct ElectionTests {
    @Test(arguments: [false, true])
    func threeNodesElectALeader(preVote: Bool) {
        let network = TestNetwork([1, 2, 3]) { $0.preVote = preVote }
        network.campaign(1)
        #expect(network.nodes[1]!.state == .leader)
        #expect(network.nodes[1]!.term == 1)
        #expect(network.nodes[2]!.lead == 1)
        #expect(network.nodes[3]!.lead == 1)
    }

    @Test func electionSucceedsWithOneMemberDown() {
        let network = TestNetwork([1, 2, 3])
        network.isolate(3)
        network.campaign(1)
        #expect(network.nodes[1]!.state == .leader)
    }

    @Test(arguments: [false, true])
    func electionFailsWithoutQuorum(preVote: Bool) {
        let network = TestNetwork([1, 2, 3, 4, 5]) { $0.preVote = preVote }
        network.isolate(2)
        network.isolate(3)
        network.isolate(4)
        network.campaign(1)
        #expect(network.nodes[1]!.state == (preVote ? .preCandidate : .candidate))
        // Pre-vote never raises the term when it cannot win.
        #expect(network.nodes[1]!.term == (preVote ? 0 : 1))
    }

    @Test func electionTimeoutIsRandomizedWithinBounds() {
        let (node, _) = makeRaftNode(id: 1, peers: [1, 2, 3])
        var ticksToCampaign: Set<Int> = []
        for _ in 0..<30 {
            node.becomeFollower(term: node.term, lead: 0)
            var ticks = 0
            while node.state == .follower {
                node.tick()
                ticks += 1
            }
            _ = node.takeMessages()
            #expect(ticks >= 10 && ticks < 20)
            ticksToCampaign.insert(ticks)
        }
        #expect(ticksToCampaign.count > 1)
    }

    @Test func candidateWithStaleLogCannotWin() {
        // Node 1's log ends in term 1; the others hold a term-2 entry.
        let one = makeRaftNode(id: 1, peers: [1, 2, 3], logTerms: [1], hardState: HardState(term: 2)).0
        let two = makeRaftNode(id: 2, peers: [1, 2, 3], logTerms: [1, 2], hardState: HardState(term: 2)).0
        let three = makeRaftNode(id: 3, peers: [1, 2, 3], logTerms: [1, 2], hardState: HardState(term: 2)).0
        let network = TestNetwork(nodes: [one, two, three])
        network.campaign(1)
        // Both voters refuse, so the election is lost at once.
        #expect(one.state == .follower)
        #expect(one.term == 3)
        network.campaign(2)
        #expect(two.state == .leader)
    }

    @Test func preVoteKeepsAPartitionedNodeFromDisruptingTheCluster() {
        let network = TestNetwork([1, 2, 3]) { $0.preVote = true }
        network.campaign(1)
        let termBefore = network.nodes[1]!.term
        network.isolate(3)
        // Node 3 times out many times while cut off: with pre-vote its term does not grow.
        network.nodes[3]!.tick(100)
        network.flush(3)
        #expect(network.nodes[3]!.term == termBefore)
        network.recover()
        network.nodes[3]!.tick(30)
        network.flush(3)
        network.propose(1)
        #expect(network.nodes[1]!.state == .leader)
        #expect(network.nodes[1]!.term == termBefore)
    }

    @Test func checkQuorumMakesAnIsolatedLeaderStepDown() {
        let network = TestNetwork([1, 2, 3]) { $0.checkQuorum = true }
        network.campaign(1)
        #expect(network.nodes[1]!.state == .leader)
        network.isolate(1)
        // The first check still sees the answers from the election; the second finds nobody.
        network.nodes[1]!.tick(10)
        #expect(network.nodes[1]!.state == .leader)
        network.nodes[1]!.tick(10)
        network.flush(1)
        #expect(network.nodes[1]!.state == .follower)
    }

    @Test func leaderStaysWhileAQuorumAnswers() {
        let network = TestNetwork([1, 2, 3]) { $0.checkQuorum = true }
        network.campaign(1)
        network.isolate(3)
        for _ in 0..<30 {
            network.nodes[1]!.tick()
            network.flush(1)
        }
        #expect(network.nodes[1]!.state == .leader)
    }

    @Test func leaderStickinessIgnoresVotesWithinTheLease() {
        let network = TestNetwork([1, 2, 3]) { $0.checkQuorum = true }
        network.campaign(1)
        // Node 3 is cut off, times out and campaigns in a higher term.
        network.isolate(3)
        network.nodes[3]!.tick(25)
        _ = network.nodes[3]!.takeMessages()
        let candidateTerm = network.nodes[3]!.term
        #expect(candidateTerm > 1)
        network.recover()
        // Node 2 heard from the leader recently, so it ignores node 3's vote request.
        network.send([Message(type: .vote, to: 2, from: 3, term: candidateTerm, logTerm: 1, index: 1)])
        #expect(network.nodes[2]!.term == 1)
        #expect(network.nodes[2]!.lead == 1)
    }

    @Test func staleLeaderLearnsNewTermAndStepsDown() {
        let network = TestNetwork([1, 2, 3]) {
            $0.checkQuorum = false
            $0.preVote = true
        }
        network.campaign(1)
        network.isolate(1)
        network.campaign(2)
        #expect(network.nodes[2]!.state == .leader)
        network.recover()
        // The old leader's heartbeat is answered with the newer term.
        network.send([Message(type: .beat, to: 1, from: 1)])
        #expect(network.nodes[1]!.state == .follower)
        #expect(network.nodes[1]!.term == network.nodes[2]!.term)
    }

    @Test func voteIsGrantedOncePerTerm() {
        let (node, _) = makeRaftNode(id: 1, peers: [1, 2, 3])
        try? node.step(Message(type: .vote, to: 1, from: 2, term: 1))
        try? node.step(Message(type: .vote, to: 1, from: 3, term: 1))
        let responses = node.takeMessages()
        #expect(responses.map(\.reject) == [false, true])
        #expect(node.vote == 2)
    }
}
