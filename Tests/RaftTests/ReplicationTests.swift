import Testing
@testable import Raft

@Suite struct ReplicationTests {
    /// Raft paper figure 7: whatever a follower's log looks like, the leader of term 8 brings it into
    /// agreement with its own (removing extraneous entries, filling missing ones).
    @Test(arguments: [
        [1, 1, 1, 4, 4, 5, 5, 6, 6],            // (a) missing entries
        [1, 1, 1, 4],                           // (b) missing many
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],      // (c) an extra uncommitted entry
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],   // (d) extra entries from a later term
        [1, 1, 1, 4, 4, 4, 4],                  // (e) missing, with extra from term 4
        [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],      // (f) a divergent tail from terms 2 and 3
    ] as [[UInt64]])
    func leaderSyncsFigure7FollowerLogs(followerTerms: [UInt64]) {
        let leaderTerms: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let term: UInt64 = 8
        let leader = makeRaftNode(id: 1, peers: [1, 2, 3], logTerms: leaderTerms,
                                  hardState: HardState(term: term, commit: UInt64(leaderTerms.count))).0
        let follower = makeRaftNode(id: 2, peers: [1, 2, 3], logTerms: followerTerms,
                                    hardState: HardState(term: term - 1)).0
        // Node 3 exists only to vote for node 1 (node 2's log might refuse).
        let network = TestNetwork(nodes: [leader, follower])
        network.campaign(1)
        network.send([Message(type: .voteResponse, to: 1, from: 3, term: term + 1)])
        network.propose(1, [])
        #expect(leader.state == .leader)
        #expect(follower.logTerms == leader.logTerms)
        #expect(follower.log.committed == leader.log.committed)
    }

    /// Raft paper figure 8 / §5.4.2: a leader never commits an entry from an earlier term by counting
    /// replicas; it commits it only together with an entry of its own term.
    @Test(arguments: [(UInt64(1), UInt64(0)), (2, 0), (3, 3)])
    func leaderOnlyCommitsEntriesFromItsTerm(acknowledged: UInt64, expectedCommit: UInt64) throws {
        let (node, _) = makeRaftNode(id: 1, peers: [1, 2, 3], logTerms: [1, 2], hardState: HardState(term: 2))
        try node.step(Message(type: .hup, from: 1))
        try node.step(Message(type: .voteResponse, to: 1, from: 2, term: 3))
        #expect(node.state == .leader)
        _ = node.takeMessages()
        // Entry 3 is the leader's empty entry of term 3.
        try node.step(Message(type: .appendResponse, to: 1, from: 2, term: 3, index: acknowledged))
        #expect(node.log.committed == expectedCommit)
    }

    /// The Raft paper's figure 8 sequence, replayed on five nodes. In (c) the leader of a later term
    /// has replicated an entry of an older term to a majority; it must not count it as committed,
    /// because in (d) another node can still win an election and overwrite it.
    @Test func figure8() throws {
        let network = TestNetwork([1, 2, 3, 4, 5]) {
            $0.checkQuorum = false
            $0.maxSizePerMessage = 1
        }
        let node = { (id: UInt64) in network.nodes[id]! }
        network.campaign(1)
        #expect(node(1).log.committed == 1)
        // (a) S1 leads; its entry at index 2 reaches only S2.
        for id: UInt64 in [3, 4, 5] { network.cut(1, id) }
        network.propose(1, [0xA])
        #expect(node(2).log.lastIndex == 2)
        // (b) S1 crashes; S5 wins with S3 and S4 and appends its own entry at index 2, which reaches
        // nobody.
        network.recover()
        network.isolate(1)
        network.droppedTypes = [.append]
        network.campaign(5)
        #expect(node(5).state == .leader)
        #expect((try node(5).log.term(at: 2)) == node(5).term)
        // (c) S5 crashes; S1 comes back, wins a later term with S2, S3, S4 and replicates its old
        // entry at index 2 to S3: a majority (S1, S2, S3) now holds it, but S3 never gets the new
        // leader's own entry at index 3.
        network.recover()
        network.isolate(5)
        // A restart keeps term, vote and log but not the leadership.
        node(1).becomeFollower(term: node(1).term, lead: 0)
        let oldTerm = node(5).term
        network.dropFilter = { message in
            // S3 may see (and reject) probes, but never receives the new leader's entry once it
            // could append it.
            message.to == 4 || message.from == 4
                || (message.to == 3 && node(3).log.lastIndex >= 2 && message.entries.contains { $0.term > oldTerm })
        }
        network.campaign(1)
        if node(1).state != .leader { network.campaign(1) }
        #expect(node(1).state == .leader)
        network.send([Message(type: .beat, to: 1, from: 1)])
        #expect((try node(3).log.term(at: 2)) == 1)
        #expect(node(3).log.lastIndex == 2)
        // The old-term entry is on a majority but must not be committed.
        #expect(node(1).log.committed == 1)
        // (d) S1 crashes; S5 can win with S3 and S4 (its last term beats theirs) and overwrite
        // index 2: had S1 committed it, a committed entry would be lost.
        network.recover()
        network.isolate(1)
        network.cut(5, 2)
        node(5).becomeFollower(term: node(5).term, lead: 0)
        network.campaign(5)
        if node(5).state != .leader { network.campaign(5) }
        #expect(node(5).state == .leader)
        #expect((try node(3).log.term(at: 2)) == (try node(5).log.term(at: 2)))
        #expect((try node(3).log.term(at: 2)) != 1)
    }

    /// The leader counts its own copy toward a quorum only once persisted, which is what makes
    /// sending appends in parallel with its own write safe.
    @Test func leaderCountsItselfOnlyAfterPersisting() throws {
        let network = TestNetwork([1, 2])
        network.campaign(1)
        let leader = network.nodes[1]!
        #expect(leader.log.committed == 1)
        try leader.step(Message(type: .propose, from: 1, entries: [Entry(data: [1])]))
        leader.flushPendingAppends()
        // The follower acknowledges before the leader's own write finished.
        try leader.step(Message(type: .appendResponse, from: 2, term: leader.term, index: 2))
        #expect(leader.log.committed == 1)
        leader.persistUnstable()
        #expect(leader.log.committed == 2)
    }

    @Test func fastBacktrackingSkipsAWholeTermPerRoundTrip() {
        // The follower holds 50 entries of term 2 that the leader (term 3 entries) never had.
        let followerTerms = [UInt64](repeating: 1, count: 5) + [UInt64](repeating: 2, count: 50)
        let leaderTerms = [UInt64](repeating: 1, count: 5) + [UInt64](repeating: 3, count: 50)
        let leader = makeRaftNode(id: 1, peers: [1, 2, 3], logTerms: leaderTerms, hardState: HardState(term: 3, commit: 5)).0
        let follower = makeRaftNode(id: 2, peers: [1, 2, 3], logTerms: followerTerms, hardState: HardState(term: 3, commit: 5)).0
        let network = TestNetwork(nodes: [leader, follower])
        network.campaign(1)
        network.send([Message(type: .voteResponse, to: 1, from: 3, term: 4)])
        network.propose(1)
        #expect(follower.logTerms == leader.logTerms)
        let rejections = network.delivered.filter { $0.type == .appendResponse && $0.reject }.count
        #expect(rejections <= 2, "backtracking took \(rejections) rejections")
    }

    @Test func proposalsBetweenReadiesShareOneAppendPerFollower() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        for value in 0..<10 { try leader.step(Message(type: .propose, from: 1, entries: [Entry(data: [UInt8(value)])])) }
        let appends = leader.takeMessages().filter { $0.type == .append }
        #expect(appends.count == 2)
        #expect(appends.allSatisfy { $0.entries.count == 10 })
    }

    @Test func appendsAreSplitAtTheMessageSizeLimit() throws {
        let network = TestNetwork([1, 2]) { $0.maxSizePerMessage = 100 }
        network.campaign(1)
        let leader = network.nodes[1]!
        try leader.propose(count: 10, size: 33)
        let appends = leader.takeMessages().filter { $0.type == .append }
        // 50 bytes per entry (33 + 17): two per message, and pipelined in replicate state.
        #expect(appends.count == 5)
        #expect(appends.allSatisfy { $0.entries.count == 2 })
    }

    @Test func replicateStatePipelinesUpToTheInflightLimit() throws {
        let network = TestNetwork([1, 2]) {
            $0.maxSizePerMessage = 1
            $0.maxInflightMessages = 3
        }
        network.campaign(1)
        let leader = network.nodes[1]!
        #expect(leader.tracker.progress[2]!.state == .replicate)
        try leader.propose(count: 10)
        let appends = leader.takeMessages().filter { $0.type == .append }
        #expect(appends.count == 3)
        #expect(leader.tracker.progress[2]!.isPaused)
        // One acknowledgement frees one slot and sends one more.
        try leader.step(Message(type: .appendResponse, from: 2, term: leader.term, index: appends[0].entries[0].index))
        #expect(leader.takeMessages().filter { $0.type == .append }.count == 1)
    }

    @Test func inflightBytesLimitPausesReplication() throws {
        let network = TestNetwork([1, 2]) {
            $0.maxSizePerMessage = 1
            $0.maxInflightBytes = 100
        }
        network.campaign(1)
        let leader = network.nodes[1]!
        try leader.propose(count: 10, size: 33)
        // 50 bytes each: the window holds two messages.
        #expect(leader.takeMessages().filter { $0.type == .append }.count == 2)
    }

    @Test func probeStateSendsOneAppendAtATime() throws {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        let leader = network.nodes[1]!
        leader.tracker.progress[2]!.becomeProbe()
        try leader.propose(count: 3)
        #expect(leader.takeMessages().filter { $0.type == .append && $0.to == 2 }.count == 1)
        #expect(leader.tracker.progress[2]!.isPaused)
        // A heartbeat response unpauses the probe.
        try leader.step(Message(type: .heartbeatResponse, from: 2, term: leader.term))
        #expect(leader.takeMessages().filter { $0.type == .append && $0.to == 2 }.count == 1)
    }

    @Test func followerForwardsProposalsToTheLeader() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.propose(2, [42])
        #expect(network.nodes[1]!.log.lastIndex == 2)
        #expect(network.nodes[3]!.log.committed == 2)
    }

    @Test func proposalWithoutLeaderIsDropped() {
        let (node, _) = makeRaftNode(id: 1, peers: [1, 2, 3])
        #expect(throws: RaftError.proposalDropped(.noLeader)) {
            try node.step(Message(type: .propose, from: 1, entries: [Entry(data: [1])]))
        }
    }

    @Test func proposalForwardingCanBeDisabled() {
        let network = TestNetwork([1, 2, 3]) { $0.disableProposalForwarding = true }
        network.campaign(1)
        #expect(throws: RaftError.proposalDropped(.forwardingDisabled)) {
            try network.nodes[2]!.step(Message(type: .propose, from: 2, entries: [Entry(data: [1])]))
        }
    }

    @Test func uncommittedSizeLimitDropsProposals() throws {
        let network = TestNetwork([1, 2, 3]) { $0.maxUncommittedEntriesSize = 100 }
        network.campaign(1)
        network.isolate(1)
        let leader = network.nodes[1]!
        try leader.step(Message(type: .propose, from: 1, entries: [Entry(data: [UInt8](repeating: 0, count: 60))]))
        #expect(throws: RaftError.proposalDropped(.uncommittedSizeExceeded)) {
            try leader.step(Message(type: .propose, from: 1, entries: [Entry(data: [UInt8](repeating: 0, count: 60))]))
        }
    }

    @Test func heartbeatNeverCommitsPastTheFollowersMatch() {
        let network = TestNetwork([1, 2, 3])
        network.campaign(1)
        network.cut(1, 3)
        network.propose(1)
        network.recover()
        _ = network.nodes[1]!.takeMessages()
        try? network.nodes[1]!.step(Message(type: .beat, from: 1))
        let heartbeat = network.nodes[1]!.takeMessages().first { $0.type == .heartbeat && $0.to == 3 }
        #expect(heartbeat?.commit == 1)
    }
}
