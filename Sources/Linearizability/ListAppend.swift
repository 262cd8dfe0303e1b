/// One transaction of the list-append workload: appends `value` to the list at each of `keys`
/// at once (an etcd Txn guarded by each key's mod_revision, putting the longer lists).
public struct ListAppend: Sendable, Hashable, CustomStringConvertible {
    public var keys: [String]
    /// Unique across the history.
    public var value: String
    /// true: committed; false: its guard failed and it wrote nothing; nil: the outcome is unknown.
    public var succeeded: Bool?
    public var invoked: UInt64
    /// When the answer came; nil when it never did.
    public var returned: UInt64?

    public init(keys: [String], value: String, succeeded: Bool?, invoked: UInt64, returned: UInt64?) {
        self.keys = keys
        self.value = value
        self.succeeded = succeeded
        self.invoked = invoked
        self.returned = returned
    }

    public var description: String {
        "append \(value) to \(keys) [\(invoked), \(returned.map(String.init) ?? "∞")] "
            + (succeeded.map { $0 ? "ok" : "refused" } ?? "unknown")
    }
}

/// One read of every list at once (one revision of the store), answered.
public struct ListRead: Sendable, Hashable, CustomStringConvertible {
    public var lists: [String: [String]]
    public var invoked: UInt64
    public var returned: UInt64

    public init(lists: [String: [String]], invoked: UInt64, returned: UInt64) {
        self.lists = lists
        self.invoked = invoked
        self.returned = returned
    }

    /// Each list by its length and last values: whole lists would make a long run's report unreadable.
    public var description: String {
        "read [\(invoked), \(returned)] " + lists.sorted { $0.key < $1.key }.map { key, list in
            "\(key)=[\(list.count > 3 ? "\(list.count) values, ..., " : "")\(list.suffix(3).joined(separator: ", "))]"
        }.joined(separator: " ")
    }
}

/// Checks a list-append history for what strict serializability demands of it, in the manner of
/// Jepsen's Elle for lists (without its full cycle search): every read of a list is a prefix of
/// one order of that list's appends; no value shows up twice, or without a transaction that may
/// have written it; every committed append is in the lists; a transaction's value is in all of
/// its lists or in none, in every read; and real time is respected: an append that committed
/// before another began comes first, a read sees every append that committed before it began and
/// none that began after it returned, and a later read never sees less than an earlier one.
public enum ListAppendChecker {
    /// The violations found, each a sentence naming the operations; empty when none.
    public static func check(appends: [ListAppend], reads: [ListRead]) -> [String] {
        var violations: [String] = []
        let keys = Set(appends.flatMap(\.keys)).union(reads.flatMap(\.lists.keys)).sorted()
        // The longest list read of each key: every other read must be a prefix of it.
        var order: [String: [String]] = [:]
        for key in keys {
            order[key] = reads.map { $0.lists[key] ?? [] }.max { $0.count < $1.count } ?? []
        }
        let byValue = Dictionary(appends.map { ($0.value, $0) }, uniquingKeysWith: { first, _ in first })
        var position: [String: [String: Int]] = [:]
        for key in keys {
            var positions: [String: Int] = [:]
            for (index, value) in order[key]!.enumerated() {
                if positions[value] != nil {
                    violations.append("\(key): \(value) appears twice in \(order[key]!)")
                }
                positions[value] = positions[value] ?? index
                guard let append = byValue[value], append.keys.contains(key) else {
                    violations.append("\(key): \(value) is in the list but no transaction appended it there")
                    continue
                }
                if append.succeeded == false {
                    violations.append("\(key): \(value) is in the list but its transaction was refused: \(append)")
                }
            }
            position[key] = positions
        }
        for read in reads {
            for key in keys {
                let list = read.lists[key] ?? []
                if Array(order[key]!.prefix(list.count)) != list {
                    violations.append("\(key): \(read) is not a prefix of \(order[key]!) (the lists diverged)")
                }
            }
        }
        // Whether `append`'s value is in `read` at `key` (reads are prefixes of `order` by now).
        func sees(_ read: ListRead, _ append: ListAppend, at key: String) -> Bool {
            guard let index = position[key]?[append.value] else { return false }
            return index < (read.lists[key]?.count ?? 0)
        }
        for append in appends {
            let present = append.keys.filter { position[$0]?[append.value] != nil }
            if append.succeeded == true && present.count < append.keys.count {
                violations.append("lost: \(append) committed but is missing from \(append.keys.filter { !present.contains($0) })")
            }
            if !present.isEmpty && present.count < append.keys.count {
                violations.append("not atomic: \(append) is in \(present) only")
            }
        }
        // The checks between appends and reads, each read against prefix maxima over one order
        // (not against every append): a long run's generations hold thousands of each.
        var reported = Set<String>()
        func report(_ read: Int, _ append: ListAppend, _ kind: String, _ message: String) {
            if reported.insert("\(kind) \(read) \(append.value)").inserted { violations.append(message) }
        }
        for key in keys {
            let list = order[key]!
            // From the future: a read sees an append that began after the read returned.
            var latestCall: [UInt64] = []
            for value in list { latestCall.append(max(latestCall.last ?? 0, byValue[value]?.invoked ?? 0)) }
            // Stale: a read misses an append that committed before the read began.
            let committed = appends.filter { $0.succeeded == true && $0.returned != nil && $0.keys.contains(key) }
                .sorted { $0.returned! < $1.returned! }
            var furthest: [Int] = []
            for append in committed { furthest.append(max(furthest.last ?? -1, position[key]?[append.value] ?? Int.max)) }
            for (index, read) in reads.enumerated() {
                let length = read.lists[key]?.count ?? 0
                if length > 0, latestCall[min(length, list.count) - 1] > read.returned,
                   let append = list.prefix(length).compactMap({ byValue[$0] }).first(where: { $0.invoked > read.returned }) {
                    report(index, append, "future", "from the future: \(read) returned before \(append) began, yet sees it")
                }
                let before = Self.count(committed, returnedBefore: read.invoked)
                if before > 0, furthest[before - 1] >= length,
                   let append = committed.prefix(before).first(where: { (position[key]?[$0.value] ?? Int.max) >= length }) {
                    report(index, append, "stale", "stale: \(read) began after \(append) committed, yet misses it")
                }
            }
            // Not atomic: a read sees a transaction in this list but misses it in another of its lists.
            let shared = list.compactMap { byValue[$0] }.filter { $0.keys.count > 1 && $0.keys.contains(key) }
            for other in Set(shared.flatMap(\.keys)).subtracting([key]) {
                let pairs = shared.filter { $0.keys.contains(other) }
                    .map { (here: position[key]![$0.value]!, there: position[other]?[$0.value] ?? Int.max, append: $0) }
                    .sorted { $0.here < $1.here }
                var reach: [Int] = []
                for pair in pairs { reach.append(max(reach.last ?? -1, pair.there)) }
                for (index, read) in reads.enumerated() {
                    let length = read.lists[key]?.count ?? 0
                    let seen = pairs.partitioningIndex { $0.here >= length }
                    let otherLength = read.lists[other]?.count ?? 0
                    if seen > 0, reach[seen - 1] >= otherLength,
                       let pair = pairs.prefix(seen).first(where: { $0.there >= otherLength }) {
                        let inLists = pair.append.keys.filter { sees(read, pair.append, at: $0) }
                        report(index, pair.append, "atomic", "not atomic: \(read) sees \(pair.append) in \(inLists) only")
                    }
                }
            }
            // Real time between appends: one that committed before another began comes first.
            var latestCallBefore: UInt64 = 0
            for (index, value) in list.enumerated() {
                if let later = byValue[value], let returned = later.returned, returned < latestCallBefore,
                   let earlier = list[..<index].compactMap({ byValue[$0] }).first(where: { returned < $0.invoked }) {
                    violations.append("\(key): \(later) committed before \(earlier) began, yet comes after it")
                }
                latestCallBefore = max(latestCallBefore, byValue[value]?.invoked ?? 0)
            }
        }
        // Real time between reads: a read never sees less than one that returned before it began.
        let byTime = reads.sorted { $0.returned < $1.returned }
        for key in keys {
            var longest: [Int] = []
            for read in byTime { longest.append(max(longest.last ?? 0, read.lists[key]?.count ?? 0)) }
            for later in reads {
                let before = byTime.partitioningIndex { $0.returned >= later.invoked }
                let length = later.lists[key]?.count ?? 0
                if before > 0, longest[before - 1] > length,
                   let earlier = byTime.prefix(before).first(where: { ($0.lists[key]?.count ?? 0) > length }) {
                    violations.append("\(key): \(later) sees less than \(earlier), which returned before it began")
                }
            }
        }
        return violations
    }

    /// How many of `appends` (sorted by return time) returned before `time`.
    static func count(_ appends: [ListAppend], returnedBefore time: UInt64) -> Int {
        appends.partitioningIndex { $0.returned! >= time }
    }
}

extension Collection {
    /// The index of the first element for which `predicate` holds, the collection being
    /// partitioned by it (false for a prefix, true after): a binary search.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int where Index == Int {
        var low = startIndex
        var high = endIndex
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
