import Testing
@testable import Raft

@Suite struct RaftLogTests {
    private func makeLog(_ terms: [UInt64]) -> RaftLog {
        let storage = MemoryStorage()
        storage.append(makeEntries(terms))
        return RaftLog(storage: storage, maxCommittedSizePerReady: .max)
    }

    @Test func findConflict() {
        let log = makeLog([1, 2, 3])
        #expect(log.findConflict(makeEntries([1, 2], from: 1)) == 0)
        #expect(log.findConflict(makeEntries([2, 3, 4], from: 2)) == 4)
        #expect(log.findConflict(makeEntries([1, 4, 4], from: 1)) == 2)
    }

    @Test func findConflictByTermSkipsHigherTerms() {
        let log = makeLog([1, 1, 2, 2, 5, 5, 5])
        #expect(log.findConflictByTerm(index: 7, term: 3) == 4)
        #expect(log.findConflictByTerm(index: 7, term: 5) == 7)
        #expect(log.findConflictByTerm(index: 7, term: 0) == 0)
        #expect(log.findConflictByTerm(index: 100, term: 1) == 2)
    }

    @Test func maybeAppendRejectsMismatchAndNeverCommitsPastTheNewEntries() {
        var log = makeLog([1, 2, 3])
        #expect(log.maybeAppend(index: 3, logTerm: 2, committed: 3, entries: []) == nil)
        #expect(log.maybeAppend(index: 2, logTerm: 2, committed: 10, entries: makeEntries([4], from: 3)) == 3)
        #expect(log.committed == 3)
        #expect((try? log.term(at: 3)) == 4)
    }

    @Test func isUpToDate() {
        let log = makeLog([1, 2, 3])
        #expect(log.isUpToDate(lastIndex: 1, term: 4))
        #expect(log.isUpToDate(lastIndex: 3, term: 3))
        #expect(!log.isUpToDate(lastIndex: 2, term: 3))
        #expect(!log.isUpToDate(lastIndex: 10, term: 2))
    }

    @Test func committedEntriesAreLimitedInSize() {
        let storage = MemoryStorage()
        storage.append((1...10).map { Entry(term: 1, index: $0, data: [UInt8](repeating: 0, count: 83)) })
        var log = RaftLog(storage: storage, maxCommittedSizePerReady: 250)
        log.commit(to: 10)
        #expect(log.nextCommittedEntries().count == 2)
        log.applied(to: 2)
        #expect(log.nextCommittedEntries().first?.index == 3)
    }
}
