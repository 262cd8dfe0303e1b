@testable import EtcdServer
import Raft
import Testing

/// The peer protocol's encodings and the membership rules every member applies alike.
@Suite struct PeerWireTests {
    @Test func raftMessagesSurviveTheWire() throws {
        let messages = [
            Message(type: .append, to: 2, from: 1, term: 7, logTerm: 6, index: 41,
                    entries: [Entry(term: 6, index: 42, data: [1, 2, 3]),
                              Entry(term: 7, index: 43, type: .confChange, data: ConfChange(type: .addLearnerNode, nodeID: 9).encoded())],
                    commit: 40),
            Message(type: .appendResponse, to: 1, from: 2, term: 7, index: 43, reject: true, rejectHint: 12),
            Message(type: .heartbeat, to: 3, from: 1, term: 7, commit: 43, context: Array("read-batch".utf8)),
            Message(type: .snapshot, to: 3, from: 1, term: 7,
                    snapshot: Snapshot(metadata: SnapshotMetadata(index: 5000, term: 6,
                                                                  confState: ConfState(voters: [1, 2, 3], learners: [4])))),
            Message(type: .voteResponse, to: 1, from: 3, term: UInt64.max, reject: false),
        ]
        let decoded = try RaftMessageCodec.decode(RaftMessageCodec.encode(messages))
        #expect(decoded == messages)
    }

    @Test func damagedBatchesAreRefusedNotMisread() throws {
        let bytes = RaftMessageCodec.encode([Message(type: .append, to: 2, from: 1, entries: [Entry(term: 1, index: 1, data: [9])])])
        for length in 0..<bytes.count {
            #expect(throws: PeerWireError.self) { try RaftMessageCodec.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: PeerWireError.self) { try RaftMessageCodec.decode(bytes + [0]) }
        var unknownType = bytes
        unknownType[4] = 200
        #expect(throws: PeerWireError.malformed("message type")) { try RaftMessageCodec.decode(unknownType) }
    }

    @Test func helloNamesStreamClusterAndMembers() throws {
        let hello = PeerHello(stream: .snapshot, clusterID: 0xdead_beef, from: 1, to: 2)
        #expect(try PeerHello(decoding: hello.encoded()) == hello)
        var newer = hello.encoded()
        newer[0] = 9
        #expect(throws: PeerWireError.unsupportedVersion(9)) { try PeerHello(decoding: newer) }
    }

    @Test func membershipChangesAreValidatedAsEtcdDoes() {
        let members = ClusterMembers()
        let one = ClusterMember(id: 1, name: "n1", peerURLs: ["http://a:1"], clientURLs: [], isLearner: false)
        #expect(members.validate(ConfChange(type: .addNode, nodeID: 1), member: one) == nil)
        members.apply(ConfChange(type: .addNode, nodeID: 1), member: one)
        #expect(members.validate(ConfChange(type: .addNode, nodeID: 1), member: one) == .memberNotLearner)
        let samePeer = ClusterMember(id: 2, name: "", peerURLs: ["http://a:1"], clientURLs: [], isLearner: false)
        #expect(members.validate(ConfChange(type: .addNode, nodeID: 2), member: samePeer) == .peerURLExists)
        let learner = ClusterMember(id: 3, name: "", peerURLs: ["http://c:1"], clientURLs: [], isLearner: true)
        #expect(members.validate(ConfChange(type: .addLearnerNode, nodeID: 3), member: learner) == nil)
        members.apply(ConfChange(type: .addLearnerNode, nodeID: 3), member: learner)
        #expect(members.member(3)?.isLearner == true)
        #expect(members.member(3)?.isStarted == false)
        let second = ClusterMember(id: 4, name: "", peerURLs: ["http://d:1"], clientURLs: [], isLearner: true)
        #expect(members.validate(ConfChange(type: .addLearnerNode, nodeID: 4), member: second) == .tooManyLearners)
        var promoted = learner
        promoted.isLearner = false
        #expect(members.validate(ConfChange(type: .addNode, nodeID: 3), member: promoted) == nil)
        members.apply(ConfChange(type: .addNode, nodeID: 3), member: promoted)
        #expect(members.member(3)?.isLearner == false)
        members.setAttributes(id: 3, name: "n3", clientURLs: ["http://c:2"])
        #expect(members.member(3)?.isStarted == true)
        members.apply(ConfChange(type: .removeNode, nodeID: 3), member: nil)
        #expect(members.isRemoved(3))
        #expect(members.validate(ConfChange(type: .removeNode, nodeID: 3), member: nil) == .memberNotFound)
        #expect(members.validate(ConfChange(type: .addNode, nodeID: 3), member: promoted) == .memberNotFound)
        #expect(members.all.map(\.id) == [1])
    }

    @Test func confChangeContextCarriesTheCallerAndTheMember() {
        let member = ClusterMember(id: 7, name: "n7", peerURLs: ["http://x:1", "http://y:2"], clientURLs: ["http://x:3"],
                                   isLearner: true)
        let decoded = ConfChangeContext.decode(ConfChangeContext.encode(id: 0x0102_0304_0506_0708, member: member))
        #expect(decoded.id == 0x0102_0304_0506_0708)
        #expect(decoded.member == member)
        #expect(ConfChangeContext.decode([]).member == nil)
    }
}
