import Testing
@testable import Raft

@Suite struct FlowControlTests {
    @Test func inflightsWrapAroundAndFreeInOrder() {
        var inflights = Inflights(capacity: 3, maxBytes: 0)
        for index in 1...3 { inflights.add(index: UInt64(index), bytes: 10) }
        #expect(inflights.isFull)
        inflights.freeLE(2)
        #expect(inflights.count == 1)
        inflights.add(index: 4, bytes: 10)
        inflights.add(index: 5, bytes: 10)
        #expect(inflights.isFull)
        inflights.freeFirstOne()
        #expect(inflights.count == 2)
        inflights.freeLE(100)
        #expect(inflights.count == 0)
        #expect(inflights.bytes == 0)
    }

    /// Random operations against a plain array model: the ring buffer's growth and wrap-around must
    /// never change what is in flight.
    @Test func inflightsMatchASimpleModel() {
        var random = SeededRandomNumberGenerator(seed: 7)
        for capacity in [1, 2, 3, 5, 16] {
            var inflights = Inflights(capacity: capacity, maxBytes: 0)
            var model: [(index: UInt64, bytes: UInt64)] = []
            var nextIndex: UInt64 = 1
            for _ in 0..<2_000 {
                switch random.next() % 3 {
                case 0 where !inflights.isFull:
                    let bytes = random.next() % 100
                    inflights.add(index: nextIndex, bytes: bytes)
                    model.append((nextIndex, bytes))
                    nextIndex += 1 + random.next() % 3
                case 1:
                    let bound = nextIndex > 1 ? random.next() % nextIndex : 0
                    inflights.freeLE(bound)
                    model.removeAll { $0.index <= bound }
                default:
                    inflights.freeFirstOne()
                    if !model.isEmpty { model.removeFirst() }
                }
                #expect(inflights.count == model.count)
                #expect(inflights.bytes == model.reduce(0) { $0 + $1.bytes })
                #expect(inflights.isFull == (model.count == capacity))
            }
        }
    }

    @Test func inflightsByteLimit() {
        var inflights = Inflights(capacity: 100, maxBytes: 25)
        inflights.add(index: 1, bytes: 10)
        #expect(!inflights.isFull)
        inflights.add(index: 2, bytes: 20)
        #expect(inflights.isFull)
        inflights.freeLE(1)
        #expect(!inflights.isFull)
    }

    @Test func progressStateTransitions() {
        let progress = Progress(match: 0, next: 5, inflights: Inflights(capacity: 2, maxBytes: 0))
        // A probe rejection backs off to the hint.
        #expect(progress.maybeDecrTo(rejected: 4, matchHint: 2))
        #expect(progress.next == 3)
        // A stale rejection is ignored.
        #expect(!progress.maybeDecrTo(rejected: 4, matchHint: 1))
        #expect(progress.maybeUpdate(3))
        progress.becomeReplicate()
        #expect(progress.next == 4)
        progress.optimisticUpdate(6)
        progress.inflights.add(index: 6, bytes: 1)
        #expect(!progress.maybeDecrTo(rejected: 3, matchHint: 0))
        #expect(progress.maybeDecrTo(rejected: 5, matchHint: 0))
        #expect(progress.next == 4)
        progress.becomeSnapshot(index: 20)
        #expect(progress.isPaused)
        progress.becomeProbe()
        #expect(progress.next == 21)
    }

    @Test(arguments: [
        ([], [:], UInt64.max),
        ([1], [1: 5], 5),
        ([1, 2, 3], [1: 5, 2: 3, 3: 9], 5),
        ([1, 2, 3, 4], [1: 5, 2: 3, 3: 9, 4: 1], 3),
        ([1, 2, 3, 4, 5], [1: 5, 2: 3], 0),
    ] as [([UInt64], [UInt64: UInt64], UInt64)])
    func majorityCommittedIndex(voters: [UInt64], matches: [UInt64: UInt64], expected: UInt64) {
        #expect(MajorityConfig(voters).committedIndex { matches[$0] } == expected)
    }

    @Test func majorityVoteResult() {
        let config = MajorityConfig([1, 2, 3, 4, 5])
        #expect(config.voteResult([1: true, 2: true]) == .pending)
        #expect(config.voteResult([1: true, 2: true, 3: true]) == .won)
        #expect(config.voteResult([1: false, 2: false, 3: false]) == .lost)
        #expect(config.voteResult([1: true, 2: false, 3: false, 4: false]) == .lost)
    }
}
