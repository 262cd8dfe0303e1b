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
            for read in reads {
                let seen = append.keys.filter { sees(read, append, at: $0) }
                if !seen.isEmpty && seen.count < append.keys.count {
                    violations.append("not atomic: \(read) sees \(append) in \(seen) only")
                }
                if !seen.isEmpty && read.returned < append.invoked {
                    violations.append("from the future: \(read) returned before \(append) began, yet sees it")
                }
                if append.succeeded == true, let returned = append.returned, returned < read.invoked,
                   seen.count < append.keys.count {
                    violations.append("stale: \(read) began after \(append) committed, yet misses it")
                }
            }
        }
        for key in keys {
            let list = order[key]!
            for (index, value) in list.enumerated() {
                guard let later = byValue[value] else { continue }
                for earlierValue in list[..<index] {
                    guard let earlier = byValue[earlierValue], let returned = later.returned else { continue }
                    if returned < earlier.invoked {
                        violations.append("\(key): \(later) committed before \(earlier) began, yet comes after it")
                    }
                }
            }
        }
        let byTime = reads.sorted { $0.returned < $1.returned }
        for (index, earlier) in byTime.enumerated() {
            for later in byTime[(index + 1)...] where earlier.returned < later.invoked {
                for key in keys where (later.lists[key]?.count ?? 0) < (earlier.lists[key]?.count ?? 0) {
                    violations.append("\(key): \(later) sees less than \(earlier), which returned before it began")
                }
            }
        }
        return violations
    }
}
