import Testing
import TestSupport
@testable import BTreeStore

/// Random operation sequences applied to `MVCCStore` and to `MVCCReferenceModel` must give
/// identical responses, errors and revisions; reads at every retained revision must agree after
/// compactions; replicas and restored snapshots must agree on hashes; a watcher from revision 1
/// must see exactly the model's events.
struct MVCCModelTests {
    struct Generator {
        var random: SeededGenerator
        let keyCount: Int

        mutating func key() -> [UInt8] { bytes("k\(Int.random(in: 0..<keyCount, using: &random))") }
        mutating func value() -> [UInt8] { bytes("v\(Int.random(in: 0..<5, using: &random))") }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

        mutating func rangeEnd(after key: [UInt8]) -> [UInt8] {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: []
            case 1: [0]
            case 2: self.key()
            default: key + [0xFF]
            }
        }

        mutating func range(maximumRevision: Int64) -> RangeRequest {
            let key = chance(10) ? [0] : self.key()
            var request = RangeRequest(key: key, rangeEnd: rangeEnd(after: key))
            if chance(40) { request.limit = Int64.random(in: 0...4, using: &random) }
            if chance(40) { request.revision = Int64.random(in: 0...(maximumRevision + 1), using: &random) }
            if chance(30) { request.sortOrder = RangeRequest.SortOrder(rawValue: Int.random(in: 0...2, using: &random))! }
            if chance(30) { request.sortTarget = RangeRequest.SortTarget(rawValue: Int.random(in: 0...4, using: &random))! }
            request.keysOnly = chance(10)
            request.countOnly = chance(10)
            if chance(10) { request.minModRevision = Int64.random(in: 0...maximumRevision, using: &random) }
            if chance(10) { request.maxModRevision = Int64.random(in: 0...maximumRevision, using: &random) }
            if chance(10) { request.minCreateRevision = Int64.random(in: 0...maximumRevision, using: &random) }
            if chance(10) { request.maxCreateRevision = Int64.random(in: 0...maximumRevision, using: &random) }
            return request
        }

        mutating func put() -> PutRequest {
            var request = PutRequest(key: key(), value: value(), lease: chance(20) ? Int64.random(in: 1...3, using: &random) : 0,
                                     prevKV: chance(50))
            if chance(10) { request.ignoreValue = true; request.value = [] }
            if chance(10) { request.ignoreLease = true; request.lease = 0 }
            return request
        }

        mutating func deleteRange() -> DeleteRangeRequest {
            let key = self.key()
            return DeleteRangeRequest(key: key, rangeEnd: chance(50) ? [] : rangeEnd(after: key), prevKV: chance(50))
        }

        mutating func compare() -> Compare {
            let key = self.key()
            let target: Compare.Target = switch Int.random(in: 0..<5, using: &random) {
            case 0: .version(Int64.random(in: 0...3, using: &random))
            case 1: .createRevision(Int64.random(in: 0...20, using: &random))
            case 2: .modRevision(Int64.random(in: 0...20, using: &random))
            case 3: .value(value())
            default: .lease(Int64.random(in: 0...3, using: &random))
            }
            return Compare(key: key, rangeEnd: chance(20) ? rangeEnd(after: key) : [], target: target,
                           result: Compare.Result(rawValue: Int.random(in: 0...3, using: &random))!)
        }

        mutating func txn(depth: Int, maximumRevision: Int64) -> TxnRequest {
            func ops() -> [RequestOp] {
                (0..<Int.random(in: 0...3, using: &random)).map { _ in
                    switch Int.random(in: 0..<(depth < 2 ? 4 : 3), using: &random) {
                    case 0: .range(range(maximumRevision: maximumRevision))
                    case 1: .put(put())
                    case 2: .deleteRange(deleteRange())
                    default: .txn(txn(depth: depth + 1, maximumRevision: maximumRevision))
                    }
                }
            }
            return TxnRequest(compare: (0..<Int.random(in: 0...2, using: &random)).map { _ in compare() },
                              success: ops(), failure: ops())
        }
    }

    static func run(seed: UInt64, operations: Int) async -> String? {
        var generator = Generator(random: SeededGenerator(seed: seed), keyCount: 12)
        // A small buffer: the watcher, drained only now and then, keeps falling behind and
        // catching up from the history, and compactions sometimes overtake it.
        let store = MVCCStore(watchBufferLimit: 16)
        var model = MVCCReferenceModel()
        store.leaseExists = { $0 != 3 }
        model.leaseExists = { $0 != 3 }
        func watchAll(from revision: Int64) -> Watcher {
            var request = WatchRequest(key: [0], rangeEnd: [0], startRevision: revision)
            request.prevKV = true
            return store.watchHub.watch(request)
        }
        var watcher = watchAll(from: 1)
        var watched: [Event] = []
        // Revision windows a compaction made the watcher skip: (after, through].
        var skipped: [(after: Int64, through: Int64)] = []
        func expectedEvents() -> [Event] {
            model.events.filter { event in
                !skipped.contains { event.kv.modRevision > $0.after && event.kv.modRevision <= $0.through }
            }
        }
        /// Reads until the watcher has everything up to the model's revision. A progress
        /// notification says the watcher has delivered all it will: stop there, so a lost event
        /// fails the comparison instead of hanging the test.
        func drain() async {
            var lastRevision = watched.last?.kv.modRevision ?? 1
            var target = expectedEvents().count
            watcher.requestProgress()
            while watched.count < target {
                guard let response = await watcher.next() else { return }
                if response.canceled {
                    // As an etcd client would: resume after the compaction point.
                    skipped.append((lastRevision, response.compactRevision))
                    lastRevision = response.compactRevision
                    watcher = watchAll(from: response.compactRevision + 1)
                    watcher.requestProgress()
                    target = expectedEvents().count
                    continue
                }
                if response.isProgressNotification {
                    if response.revision >= model.currentRevision { return }
                    continue
                }
                watched += response.events
                lastRevision = max(lastRevision, response.revision)
            }
        }
        func failure(_ step: Int, _ message: String) -> String {
            "seed \(seed) step \(step): \(message) (replay: BTREE_PROPERTY_SEED=\(seed))"
        }
        for step in 0..<operations {
            let maximumRevision = model.currentRevision
            let roll = Int.random(in: 0..<100, using: &generator.random)
            var working = model.working
            if roll < 30 {
                let request = generator.put()
                let expected = Result<PutResponse, MVCCError> { () throws(MVCCError) in
                    try TxnValidation.check(request)
                    if (request.ignoreValue || request.ignoreLease) && working.keys[request.key] == nil { throw .keyNotFound }
                    if request.lease != 0 && !model.leaseExists(request.lease) { throw .leaseNotFound }
                    return model.put(request, working: &working)
                }
                let actual = Result { () throws(MVCCError) in try store.put(request) }
                if "\(expected)" != "\(actual)" { return failure(step, "put \(request): \(actual) != \(expected)") }
            } else if roll < 45 {
                let request = generator.deleteRange()
                let expected = model.deleteRange(request, working: &working)
                let actual = Result { () throws(MVCCError) in try store.deleteRange(request) }
                if "\(Result<DeleteRangeResponse, MVCCError>.success(expected))" != "\(actual)" {
                    return failure(step, "delete \(request): \(actual) != \(expected)")
                }
            } else if roll < 65 {
                let request = generator.txn(depth: 0, maximumRevision: maximumRevision)
                let expected = Result<TxnResponse, MVCCError> { () throws(MVCCError) in
                    try TxnValidation.check(request, maximumOperations: 128)
                    try model.check(request)
                    var response = model.txn(request, working: &working)
                    response.revision = model.currentRevision + (working.writes.isEmpty ? 0 : 1)
                    return response
                }
                let actual = Result { () throws(MVCCError) in try store.txn(request) }
                if "\(expected)" != "\(actual)" { return failure(step, "txn \(request):\n\(actual)\n!=\n\(expected)") }
                if case .failure = expected { working = model.working }
            } else if roll < 97 {
                let request = generator.range(maximumRevision: maximumRevision)
                let expected = Result { () throws(MVCCError) in try model.range(request, working: working) }
                let actual = Result { () throws(MVCCError) in try store.readViews.current().range(request) }
                if "\(expected)" != "\(actual)" { return failure(step, "range \(request):\n\(actual)\n!=\n\(expected)") }
            } else {
                let revision = Int64.random(in: 0...(maximumRevision + 1), using: &generator.random)
                let expected: MVCCError? = revision <= model.compactRevision ? .compacted
                    : revision > model.currentRevision ? .futureRevision : nil
                do {
                    try store.compact(revision)
                    if expected != nil { return failure(step, "compact \(revision) succeeded") }
                    model.compactRevision = revision
                } catch {
                    if error != expected { return failure(step, "compact \(revision): \(error) != \(String(describing: expected))") }
                }
            }
            model.commit(working)
            if store.currentRevision != model.currentRevision { return failure(step, "revision differs") }
            if Int.random(in: 0..<20, using: &generator.random) == 0 { await drain() }
            if step % 50 == 49 {
                // Every retained revision reads the same as the model's copy of it.
                let view = store.readViews.current()
                for revision in max(1, model.compactRevision)...max(1, model.currentRevision) where model.currentRevision > 0 {
                    let all = RangeRequest(key: [0], rangeEnd: [0], revision: revision)
                    let actual = try? view.range(all)
                    let expected = try? model.range(all, working: model.working)
                    if actual != expected { return failure(step, "full read at \(revision) differs") }
                }
                do { try view.state.live.checkInvariants(); try view.state.history.checkInvariants() } catch {
                    return failure(step, "tree invariant: \(error)")
                }
                let restored = MVCCStore(importing: view.export()).readViews.current()
                let revision = Int64.random(in: (model.compactRevision + 1)...(model.currentRevision + 1), using: &generator.random)
                let original = try? view.hashKV(revision: revision > model.currentRevision ? 0 : revision)
                let copy = try? restored.hashKV(revision: revision > model.currentRevision ? 0 : revision)
                if original?.hash != copy?.hash || original == nil { return failure(step, "hash differs after restore") }
            }
        }
        await drain()
        let expected = expectedEvents()
        if watched != expected {
            let firstDifference = zip(watched, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(watched.count, expected.count)
            return failure(operations, "watcher saw \(watched.count) events, model expects \(expected.count); first difference at \(firstDifference)")
        }
        return nil
    }

    static let seeds = TestEnvironment.seeds([11, 12, 13, 14])

    @Test("random operations match the reference model", arguments: seeds)
    func matchesReferenceModel(seed: UInt64) async {
        let operations = TestEnvironment.operations(1_000_000) / 100 / Self.seeds.count
        if let failure = await Self.run(seed: seed, operations: operations) {
            Issue.record(Comment(rawValue: failure))
        }
    }
}
