import Raft
import Testing
@testable import WAL

/// The recovery path a server takes: a RawNode persisting every Ready to the WAL, a crash that loses
/// all memory, and a restart that rebuilds MemoryStorage from the WAL (after the snapshot) and carries
/// on with nothing committed lost.
@Suite struct DurableNodeTests {
    final class DurableNode {
        let log: WriteAheadLog
        let storage: MemoryStorage
        let node: RawNode
        var applied: [[UInt8]] = []
        var appliedIndex: UInt64

        init(log: WriteAheadLog, storage: MemoryStorage, appliedIndex: UInt64) {
            self.log = log
            self.storage = storage
            self.appliedIndex = appliedIndex
            node = RawNode(configuration: RaftConfiguration(id: 1, applied: appliedIndex), storage: storage, randomSeed: 1)
        }

        func drain() throws {
            while node.hasReady {
                let ready = node.ready()
                try log.save(hardState: ready.hardState, entries: ready.entries, sync: ready.mustSync)
                storage.append(ready.entries)
                if let hardState = ready.hardState { storage.setHardState(hardState) }
                for entry in ready.committedEntries {
                    if !entry.data.isEmpty { applied.append(entry.data) }
                    appliedIndex = entry.index
                }
                node.advance(ready)
            }
        }
    }

    @Test func committedEntriesSurviveACrashAndRestart() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let options = WriteAheadLog.Options(segmentSize: 8 << 10)
        let confState = ConfState(voters: [1])
        let log = try WriteAheadLog.create(directory: directory.path, metadata: [1], options: options)
        // Bootstrap: the initial membership is the snapshot at index 0.
        try log.saveSnapshotMarker(WALSnapshotMarker(index: 0, term: 0, confState: confState))
        let first = DurableNode(log: log, storage: MemoryStorage(confState: confState), appliedIndex: 0)
        try first.node.campaign()
        try first.drain()
        for value in 0..<200 {
            try first.node.propose(Array("v\(value)".utf8))
            try first.drain()
            if value == 120 {
                // The application snapshots its state and lets the WAL drop what the snapshot covers.
                let marker = WALSnapshotMarker(index: first.appliedIndex, term: first.node.hardState.term, confState: confState)
                try first.storage.createSnapshot(index: marker.index, confState: confState, data: [])
                try log.saveSnapshotMarker(marker)
                try log.releaseSegments(through: marker.index)
            }
        }
        let committed = first.node.hardState.commit
        #expect(log.segmentFileNames.count >= 1)

        // Crash: everything in memory is gone. Recover from the latest snapshot marker.
        let (reopened, state) = try WriteAheadLog.open(directory: directory.path, options: options)
        let snapshot = try #require(state.snapshot)
        #expect(snapshot.index > 100)
        let storage = MemoryStorage(confState: confState)
        try storage.applySnapshot(Snapshot(metadata: SnapshotMetadata(index: snapshot.index, term: snapshot.term, confState: snapshot.confState)))
        storage.append(state.entries)
        storage.setHardState(state.hardState)
        #expect(state.hardState.commit == committed)
        let second = DurableNode(log: reopened, storage: storage, appliedIndex: snapshot.index)
        try second.drain()
        // Everything after the snapshot is applied again, exactly once, in order.
        let replayedValues = second.applied.map { String(decoding: $0, as: UTF8.self) }
        #expect(replayedValues.first == "v\(snapshot.index - 2 + 1)")
        #expect(replayedValues.last == "v199")
        try second.node.campaign()
        try second.drain()
        try second.node.propose(Array("after".utf8))
        try second.drain()
        #expect(second.applied.last == Array("after".utf8))
    }
}
