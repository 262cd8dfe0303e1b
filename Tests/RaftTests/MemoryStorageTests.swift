import Testing
@testable import Raft

@Suite struct MemoryStorageTests {
    @Test func termsAndEntriesAroundCompaction() throws {
        let storage = MemoryStorage()
        storage.append(makeEntries([1, 1, 2, 2, 3]))
        try storage.compact(through: 2)
        #expect(try storage.firstIndex() == 3)
        #expect(try storage.lastIndex() == 5)
        #expect(try storage.term(at: 2) == 1)
        #expect(throws: RaftError.compacted) { try storage.term(at: 1) }
        #expect(throws: RaftError.unavailable) { try storage.term(at: 6) }
        #expect(throws: RaftError.compacted) { try storage.entries(from: 2, to: 4, maxSize: .max) }
        #expect(try storage.entries(from: 3, to: 6, maxSize: .max).map(\.term) == [2, 2, 3])
        // The size limit still returns one entry.
        #expect(try storage.entries(from: 3, to: 6, maxSize: 1).count == 1)
    }

    @Test func appendOverwritesConflictingSuffix() throws {
        let storage = MemoryStorage()
        storage.append(makeEntries([1, 1, 1]))
        storage.append(makeEntries([2, 2], from: 2))
        #expect(try storage.entries(from: 1, to: 4, maxSize: .max).map(\.term) == [1, 2, 2])
        #expect(try storage.lastIndex() == 3)
    }

    @Test func snapshotsReplaceTheLog() throws {
        let storage = MemoryStorage()
        storage.append(makeEntries([1, 1, 2]))
        try storage.createSnapshot(index: 2, confState: ConfState(voters: [1]), data: [1])
        #expect(throws: RaftError.snapshotOutOfDate) { try storage.createSnapshot(index: 1, confState: nil, data: []) }
        try storage.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: 10, term: 4)))
        #expect(try storage.firstIndex() == 11)
        #expect(try storage.lastIndex() == 10)
        #expect(try storage.term(at: 10) == 4)
        #expect(throws: RaftError.snapshotOutOfDate) { try storage.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: 5, term: 4))) }
    }
}
