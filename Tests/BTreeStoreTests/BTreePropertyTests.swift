import Testing
import TestSupport
@testable import BTreeStore

/// The B+-tree against a sorted array, under seeded random operations.
///
/// Keys come from a small alphabet with short lengths, so inserts collide with existing keys and
/// the empty key appears. Depending on the seed every key starts with the same 0, 7, 13 or 16
/// bytes, so keys are short enough for their summary to describe them completely, straddle the
/// 15-byte limit, or all tie on their summaries and are told apart by comparing their bytes.
struct BTreePropertyTests {
    /// The reference: entries in ascending key order.
    struct SortedArrayModel {
        var keys: [[UInt8]] = []
        var values: [Int] = []

        func lowerBound(_ key: [UInt8]) -> Int {
            var low = 0, high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if [UInt8].compare(keys[middle], key) < 0 { low = middle + 1 } else { high = middle }
            }
            return low
        }

        mutating func update(_ value: Int, forKey key: [UInt8]) -> Int? {
            let index = lowerBound(key)
            if index < keys.count && keys[index] == key {
                defer { values[index] = value }
                return values[index]
            }
            keys.insert(key, at: index)
            values.insert(value, at: index)
            return nil
        }

        mutating func remove(_ key: [UInt8]) -> Int? {
            let index = lowerBound(key)
            guard index < keys.count && keys[index] == key else { return nil }
            keys.remove(at: index)
            return values.remove(at: index)
        }

        func value(_ key: [UInt8]) -> Int? {
            let index = lowerBound(key)
            return index < keys.count && keys[index] == key ? values[index] : nil
        }

        func indices(from lower: [UInt8]?, to upper: [UInt8]?) -> Range<Int> {
            let start = lower.map(lowerBound) ?? 0
            return start..<max(start, upper.map(lowerBound) ?? keys.count)
        }
    }

    static let alphabet: [UInt8] = [0, 1, 0x61, 0x62, 0x7F, 0xFF]

    /// Cheap in debug builds: one generator call for up to 10 characters.
    static func randomKey(_ random: inout SeededGenerator, maximumLength: Int, prefix: [UInt8] = []) -> [UInt8] {
        var bits = random.next()
        let length = Int(bits % UInt64(maximumLength + 1))
        bits /= UInt64(maximumLength + 1)
        var key = prefix + [UInt8](repeating: 0, count: length)
        for index in prefix.count..<key.count {
            key[index] = alphabet[Int(bits % UInt64(alphabet.count))]
            bits /= UInt64(alphabet.count)
        }
        return key
    }

    static func entries(of tree: BTree<[UInt8], Int>, from lower: [UInt8]?, to upper: [UInt8]?, reverse: Bool,
                        limit: Int = .max) -> [([UInt8], Int)] {
        var result: [([UInt8], Int)] = []
        tree.forEach(from: lower, to: upper, reverse: reverse) { key, value in
            result.append((key, value))
            return result.count < limit
        }
        return result
    }

    /// One seeded run: phases that grow, churn and shrink the tree, with read views taken along
    /// the way and checked to be unchanged at the end.
    static func run(seed: UInt64, operations: Int) -> String? {
        var random = SeededGenerator(seed: seed)
        var tree = BTree<[UInt8], Int>()
        var model = SortedArrayModel()
        var views: [(BTree<[UInt8], Int>, SortedArrayModel)] = []
        let maximumLength = Int.random(in: 3...10, using: &random)
        let prefix = [UInt8](repeating: 0x61, count: [0, 7, 13, 16][Int(seed % 4)])
        var operation = 0
        func failure(_ message: String) -> String {
            "seed \(seed) operation \(operation): \(message) (replay: BTREE_PROPERTY_SEED=\(seed))"
        }
        while operation < operations {
            // Phases bias the mix so the tree both grows deep and drains to empty.
            let phase = (operation / 20_000) % 4
            let insertWeight = [70, 45, 20, 45][phase]
            let roll = Int.random(in: 0..<100, using: &random)
            let key = randomKey(&random, maximumLength: maximumLength, prefix: prefix)
            if roll < insertWeight {
                let value = Int.random(in: 0..<1_000_000, using: &random)
                let expected = model.update(value, forKey: key)
                if tree.updateValue(value, forKey: key) != expected { return failure("updateValue \(key)") }
            } else if roll < 90 {
                if tree.removeValue(forKey: key) != model.remove(key) { return failure("removeValue \(key)") }
            } else if roll < 95 {
                if tree[key] != model.value(key) { return failure("lookup \(key)") }
            } else if roll < 98 {
                var lower: [UInt8]? = Bool.random(using: &random) ? key : nil
                var upper: [UInt8]? = Bool.random(using: &random) ? randomKey(&random, maximumLength: maximumLength, prefix: prefix) : nil
                if let l = lower, let u = upper, [UInt8].compare(l, u) > 0 { swap(&lower, &upper) }
                let reverse = Bool.random(using: &random)
                let limit = Int.random(in: 1...200, using: &random)
                let range = model.indices(from: lower, to: upper)
                let window = reverse
                    ? Array(range.reversed().prefix(limit)) : Array(range.prefix(limit))
                let actual = entries(of: tree, from: lower, to: upper, reverse: reverse, limit: limit)
                if actual.map(\.0) != window.map({ model.keys[$0] }) || actual.map(\.1) != window.map({ model.values[$0] }) {
                    return failure("range \(String(describing: lower))..<\(String(describing: upper)) reverse \(reverse)")
                }
                if tree.count(from: lower, to: upper) != range.count { return failure("count of range") }
            } else if roll < 99 {
                if views.count >= 4 { views.removeFirst() }
                views.append((tree, model))
            } else {
                // Sequential appends past the largest key exercise the uneven right-spine split.
                var next = (model.keys.last ?? []) + [0]
                for _ in 0..<Int.random(in: 1...150, using: &random) {
                    let value = Int.random(in: 0..<1_000_000, using: &random)
                    _ = model.update(value, forKey: next)
                    tree.updateValue(value, forKey: next)
                    next = next + [0]
                    if next.count > maximumLength + 4 { next = Array(next.prefix(maximumLength)) + [0xFF] }
                }
            }
            operation += 1
            if tree.count != model.keys.count { return failure("count \(tree.count) != \(model.keys.count)") }
            if operation % 25_000 == 0 || operation == operations {
                do { try tree.checkInvariants() } catch { return failure("invariant: \(error)") }
                if entries(of: tree, from: nil, to: nil, reverse: false).map(\.0) != model.keys {
                    return failure("full scan differs")
                }
            }
        }
        for (view, snapshot) in views {
            do { try view.checkInvariants() } catch { return failure("read view invariant: \(error)") }
            let seen = entries(of: view, from: nil, to: nil, reverse: false)
            if seen.map(\.0) != snapshot.keys || seen.map(\.1) != snapshot.values {
                return failure("a read view changed after later writes")
            }
        }
        // Rebuilding from the sorted contents gives an equal, valid, dense tree.
        let rebuilt = BTree<[UInt8], Int>(sortedEntries: zip(model.keys, model.values).map { ($0, $1) })
        do { try rebuilt.checkInvariants() } catch { return failure("bulk load invariant: \(error)") }
        if entries(of: rebuilt, from: nil, to: nil, reverse: true).map(\.0) != model.keys.reversed() {
            return failure("bulk-loaded tree differs")
        }
        return nil
    }

    static let seeds = TestEnvironment.seeds([1, 2, 3, 4, 5, 6, 7, 8])

    @Test("random operations match a sorted array", arguments: seeds)
    func matchesSortedArray(seed: UInt64) {
        let operations = TestEnvironment.operations(1_000_000) / Self.seeds.count
        if let failure = Self.run(seed: seed, operations: operations) {
            Issue.record(Comment(rawValue: failure))
        }
    }
}
