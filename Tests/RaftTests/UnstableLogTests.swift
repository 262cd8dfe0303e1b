import Testing
@testable import Raft

@Suite struct UnstableLogTests {
    @Test func truncateAndAppendCases() {
        var unstable = UnstableLog(offset: 5)
        unstable.truncateAndAppend(makeEntries([1, 1], from: 5))
        #expect(unstable.entries.map(\.index) == [5, 6])
        unstable.truncateAndAppend(makeEntries([2], from: 7))
        #expect(unstable.entries.map(\.term) == [1, 1, 2])
        unstable.truncateAndAppend(makeEntries([3, 3], from: 6))
        #expect(unstable.entries.map(\.term) == [1, 3, 3])
        unstable.truncateAndAppend(makeEntries([4], from: 4))
        #expect(unstable.offset == 4)
        #expect(unstable.entries.map(\.term) == [4])
    }

    @Test func stableToIgnoresReplacedEntries() {
        var unstable = UnstableLog(offset: 1)
        unstable.truncateAndAppend(makeEntries([1, 1, 1]))
        unstable.stableTo(index: 2, term: 2)
        #expect(unstable.offset == 1)
        unstable.stableTo(index: 2, term: 1)
        #expect(unstable.offset == 3)
        #expect(unstable.entries.count == 1)
    }

    @Test func snapshotGivesFirstAndLastIndex() {
        var unstable = UnstableLog(offset: 1)
        unstable.restore(Snapshot(metadata: SnapshotMetadata(index: 7, term: 2)))
        #expect(unstable.firstIndexIfKnown == 8)
        #expect(unstable.lastIndexIfKnown == 7)
        #expect(unstable.term(at: 7) == 2)
        unstable.stableSnapshotTo(index: 7)
        #expect(unstable.snapshot == nil)
    }
}
