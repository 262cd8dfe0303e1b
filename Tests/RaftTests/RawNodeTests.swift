import Testing
@testable import Raft

@Suite struct RawNodeTests {
    @Test func singleNodeReadyContract() throws {
        let storage = MemoryStorage(confState: ConfState(voters: [1]))
        let node = RawNode(configuration: RaftConfiguration(id: 1), storage: storage, randomSeed: 1)
        #expect(!node.hasReady)
        try node.campaign()
        var ready = node.ready()
        #expect(ready.softState == SoftState(lead: 1, raftState: .leader))
        #expect(ready.hardState == HardState(term: 1, vote: 1, commit: 0))
        #expect(ready.entries.count == 1)
        // The leader counts its own copy only once persisted: nothing is committed yet.
        #expect(ready.committedEntries.isEmpty)
        #expect(ready.mustSync)
        storage.append(ready.entries)
        storage.setHardState(ready.hardState!)
        node.advance(ready)
        #expect(node.hasReady)
        ready = node.ready()
        #expect(ready.hardState == HardState(term: 1, vote: 1, commit: 1))
        #expect(ready.committedEntries.count == 1)
        #expect(!ready.mustSync)
        node.advance(ready)
        #expect(!node.hasReady)

        try node.propose([42])
        #expect(node.hasReady)
        ready = node.ready()
        #expect(ready.entries.map(\.data) == [[42]])
        #expect(ready.softState == nil)
        storage.append(ready.entries)
        node.advance(ready)
        ready = node.ready()
        #expect(ready.committedEntries.map(\.data) == [[42]])
        node.advance(ready)
        #expect(!node.hasReady)
    }

    @Test func restartResumesFromStorage() throws {
        let storage = MemoryStorage(confState: ConfState(voters: [1]))
        storage.append([Entry(term: 1, index: 1), Entry(term: 1, index: 2, data: [7])])
        storage.setHardState(HardState(term: 1, vote: 1, commit: 2))
        let node = RawNode(configuration: RaftConfiguration(id: 1, applied: 1), storage: storage, randomSeed: 1)
        let ready = node.ready()
        // Only the entry after `applied` is handed out again.
        #expect(ready.committedEntries.map(\.index) == [2])
        #expect(ready.hardState == nil)
        #expect(node.hardState == HardState(term: 1, vote: 1, commit: 2))
    }

    @Test func statusReportsFollowerProgressOnTheLeader() throws {
        let storage = MemoryStorage(confState: ConfState(voters: [1], learners: [2]))
        let node = RawNode(configuration: RaftConfiguration(id: 1), storage: storage, randomSeed: 1)
        try node.campaign()
        let ready = node.ready()
        storage.append(ready.entries)
        node.advance(ready)
        let status = node.status
        #expect(status.softState.raftState == .leader)
        #expect(status.confState == ConfState(voters: [1], learners: [2]))
        #expect(status.progress[1]?.match == 1)
        #expect(status.progress[2]?.isLearner == true)
    }

    @Test func localMessagesCannotBeStepped() {
        let node = RawNode(configuration: RaftConfiguration(id: 1), storage: MemoryStorage(confState: ConfState(voters: [1])), randomSeed: 1)
        #expect(throws: RaftError.stepLocalMessage(.hup)) { try node.step(Message(type: .hup)) }
        #expect(throws: RaftError.stepPeerNotFound(9)) { try node.step(Message(type: .appendResponse, from: 9, term: 1)) }
    }

    @Test func readIndexOnSingleNodeComesBackInReady() throws {
        let storage = MemoryStorage(confState: ConfState(voters: [1]))
        let node = RawNode(configuration: RaftConfiguration(id: 1), storage: storage, randomSeed: 1)
        try node.campaign()
        while node.hasReady {
            let ready = node.ready()
            storage.append(ready.entries)
            node.advance(ready)
        }
        try node.readIndex(context: [1, 2])
        let ready = node.ready()
        #expect(ready.readStates == [ReadState(index: 1, requestContext: [1, 2])])
    }
}
