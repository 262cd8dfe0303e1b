/// The upper end of a key range as etcd's index reads it.
enum RangeEnd: Hashable, Sendable {
    /// Only the key itself (an empty `range_end`).
    case singleKey
    /// Every key from the start (`range_end` of `"\0"`).
    case unbounded
    /// Keys strictly below this one.
    case before([UInt8])

    /// Interprets a request's `range_end` like etcd's `mkGteRange`.
    init(_ rangeEnd: [UInt8]) {
        if rangeEnd.isEmpty {
            self = .singleKey
        } else if rangeEnd.count == 1 && rangeEnd[0] == 0 {
            self = .unbounded
        } else {
            self = .before(rangeEnd)
        }
    }

    /// Whether `key` lies in `[start, self)`.
    func contains(_ key: [UInt8], from start: [UInt8]) -> Bool {
        switch self {
        case .singleKey: return key == start
        case .unbounded: return [UInt8].compare(key, start) >= 0
        case .before(let end): return [UInt8].compare(key, start) >= 0 && [UInt8].compare(key, end) < 0
        }
    }
}
