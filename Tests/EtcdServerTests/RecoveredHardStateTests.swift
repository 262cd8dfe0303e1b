@testable import EtcdServer
import Raft
import Testing

/// The hard state a restart gives Raft, against the snapshot it starts from: a member that crashed
/// after installing the leader's snapshot and before its WAL recorded that Ready's hard state must
/// not come back in an older term than its own log (Raft would then answer votes with term 0).
@Suite struct RecoveredHardStateTests {
    @Test func aSnapshotFromALaterTermRaisesTheTermAndClearsTheVote() {
        let state = EtcdServer.hardState(HardState(term: 3, vote: 2, commit: 40), coveringSnapshot: (index: 313, term: 5))
        #expect(state == HardState(term: 5, vote: 0, commit: 313))
    }

    @Test func aWALAheadOfTheSnapshotIsKept() {
        let recorded = HardState(term: 7, vote: 1, commit: 500)
        #expect(EtcdServer.hardState(recorded, coveringSnapshot: (index: 313, term: 5)) == recorded)
        #expect(EtcdServer.hardState(recorded, coveringSnapshot: nil) == recorded)
    }

    @Test func aCommitBehindTheSnapshotIsRaisedToIt() {
        let state = EtcdServer.hardState(HardState(term: 5, vote: 3, commit: 100), coveringSnapshot: (index: 313, term: 5))
        #expect(state == HardState(term: 5, vote: 3, commit: 313))
    }
}
