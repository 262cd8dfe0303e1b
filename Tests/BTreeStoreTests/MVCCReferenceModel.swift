@testable import BTreeStore

/// The simplest store that could have etcd's semantics: a full copy of the key space per
/// revision, and a list of events. Slow and obviously right, to check `MVCCStore` against.
struct MVCCReferenceModel {
    /// `snapshots[r]`: every live key at revision r.
    var snapshots: [[[UInt8]: KeyValue]] = [[:], [:]]  // etcd starts at revision 1
    var compactRevision: Int64 = -1
    var events: [Event] = []
    var leaseExists: (Int64) -> Bool = { _ in true }

    var currentRevision: Int64 { Int64(snapshots.count - 1) }

    /// A transaction in progress: the working key space and whether it wrote.
    struct Working {
        var keys: [[UInt8]: KeyValue]
        var writes: [Event] = []
    }

    func range(_ request: RangeRequest, working: Working) throws(MVCCError) -> RangeResponse {
        let latest = currentRevision + (working.writes.isEmpty ? 0 : 1)
        if request.revision > latest { throw .futureRevision }
        let atRevision = request.revision <= 0 ? latest : request.revision
        if atRevision < compactRevision { throw .compacted }
        let space = atRevision == latest ? working.keys : snapshots[Int(atRevision)]
        var kvs = space.values.filter { inRange($0.key, request.key, request.rangeEnd) }
            .sorted { [UInt8].compare($0.key, $1.key) < 0 }
        let count = kvs.count
        if request.countOnly { kvs = [] }
        kvs.removeAll { kv in
            (request.maxModRevision != 0 && kv.modRevision > request.maxModRevision)
                || (request.minModRevision != 0 && kv.modRevision < request.minModRevision)
                || (request.maxCreateRevision != 0 && kv.createRevision > request.maxCreateRevision)
                || (request.minCreateRevision != 0 && kv.createRevision < request.minCreateRevision)
        }
        var order = request.sortOrder
        if request.sortTarget != .key && order == .none { order = .ascend }
        if order != .none {
            func field(_ kv: KeyValue) -> [Int64] {
                switch request.sortTarget {
                case .key: []
                case .version: [kv.version]
                case .create: [kv.createRevision]
                case .mod: [kv.modRevision]
                case .value: []
                }
            }
            kvs.sort { lhs, rhs in
                let primary: Int
                switch request.sortTarget {
                case .key: primary = [UInt8].compare(lhs.key, rhs.key)
                case .value: primary = [UInt8].compare(lhs.value, rhs.value)
                default: primary = field(lhs)[0] == field(rhs)[0] ? 0 : (field(lhs)[0] < field(rhs)[0] ? -1 : 1)
                }
                if primary != 0 { return order == .descend ? primary > 0 : primary < 0 }
                return [UInt8].compare(lhs.key, rhs.key) < 0
            }
        }
        var more = false
        if request.limit > 0 && kvs.count > Int(request.limit) {
            kvs = Array(kvs.prefix(Int(request.limit)))
            more = true
        }
        if request.keysOnly { kvs = kvs.map { var kv = $0; kv.value = []; return kv } }
        return RangeResponse(revision: latest, kvs: kvs, more: more, count: Int64(count))
    }

    func inRange(_ key: [UInt8], _ start: [UInt8], _ rangeEnd: [UInt8]) -> Bool {
        if rangeEnd.isEmpty { return key == start }
        if [UInt8].compare(key, start) < 0 { return false }
        return rangeEnd == [0] || [UInt8].compare(key, rangeEnd) < 0
    }

    mutating func put(_ request: PutRequest, working: inout Working) -> PutResponse {
        let revision = currentRevision + 1
        let previous = working.keys[request.key]
        let kv = KeyValue(
            key: request.key, value: request.ignoreValue ? previous?.value ?? [] : request.value,
            createRevision: previous?.createRevision ?? revision, modRevision: revision,
            version: (previous?.version ?? 0) + 1, lease: request.ignoreLease ? previous?.lease ?? 0 : request.lease)
        working.keys[request.key] = kv
        working.writes.append(Event(type: .put, kv: kv, prevKV: previous))
        return PutResponse(revision: revision, prevKV: request.prevKV ? previous : nil)
    }

    mutating func deleteRange(_ request: DeleteRangeRequest, working: inout Working) -> DeleteRangeResponse {
        let deleted = working.keys.values.filter { inRange($0.key, request.key, request.rangeEnd) }
            .sorted { [UInt8].compare($0.key, $1.key) < 0 }
        for kv in deleted {
            working.keys[kv.key] = nil
            working.writes.append(Event(type: .delete, kv: KeyValue(key: kv.key, modRevision: currentRevision + 1), prevKV: kv))
        }
        return DeleteRangeResponse(revision: currentRevision + (working.writes.isEmpty ? 0 : 1),
                                   deleted: Int64(deleted.count), prevKVs: request.prevKV ? deleted : [])
    }

    func holds(_ compare: Compare) -> Bool {
        let kvs = snapshots[Int(currentRevision)].values.filter { inRange($0.key, compare.key, compare.rangeEnd) }
        func check(_ kv: KeyValue) -> Bool {
            let order: Int
            switch compare.target {
            case .version(let number): order = kv.version == number ? 0 : (kv.version < number ? -1 : 1)
            case .createRevision(let number): order = kv.createRevision == number ? 0 : (kv.createRevision < number ? -1 : 1)
            case .modRevision(let number): order = kv.modRevision == number ? 0 : (kv.modRevision < number ? -1 : 1)
            case .lease(let number): order = kv.lease == number ? 0 : (kv.lease < number ? -1 : 1)
            case .value(let value): order = [UInt8].compare(kv.value, value)
            }
            switch compare.result {
            case .equal: return order == 0
            case .notEqual: return order != 0
            case .greater: return order > 0
            case .less: return order < 0
            }
        }
        if kvs.isEmpty {
            if case .value = compare.target { return false }
            return check(KeyValue(key: []))
        }
        return kvs.allSatisfy(check)
    }

    /// Checks a txn's chosen path before running it, as etcd does: every put first, then every read.
    func check(_ request: TxnRequest) throws(MVCCError) {
        try checkPuts(request)
        try checkRanges(request)
    }

    private func checkPuts(_ request: TxnRequest) throws(MVCCError) {
        for op in request.compare.allSatisfy(holds) ? request.success : request.failure {
            if case .put(let put) = op, put.ignoreValue || put.ignoreLease,
               snapshots[Int(currentRevision)][put.key] == nil
            {
                throw .keyNotFound
            }
            if case .put(let put) = op, put.lease != 0, !leaseExists(put.lease) { throw .leaseNotFound }
            if case .txn(let nested) = op { try checkPuts(nested) }
        }
    }

    private func checkRanges(_ request: TxnRequest) throws(MVCCError) {
        for op in request.compare.allSatisfy(holds) ? request.success : request.failure {
            if case .range(let range) = op, range.revision != 0 {
                if range.revision > currentRevision { throw .futureRevision }
                if range.revision < compactRevision { throw .compacted }
            }
            if case .txn(let nested) = op { try checkRanges(nested) }
        }
    }

    mutating func txn(_ request: TxnRequest, working: inout Working) -> TxnResponse {
        // Compares, nested ones included, see the state before the transaction.
        let succeeded = request.compare.allSatisfy(holds)
        var responses: [ResponseOp] = []
        for op in succeeded ? request.success : request.failure {
            switch op {
            case .range(let range): responses.append(.range(try! self.range(range, working: working)))
            case .put(let put): responses.append(.put(self.put(put, working: &working)))
            case .deleteRange(let delete): responses.append(.deleteRange(deleteRange(delete, working: &working)))
            case .txn(let nested): responses.append(.txn(txn(nested, working: &working)))
            }
        }
        return TxnResponse(revision: 0, succeeded: succeeded, responses: responses)
    }

    /// Ends an entry: a new revision if it wrote.
    mutating func commit(_ working: Working) {
        guard !working.writes.isEmpty else { return }
        snapshots.append(working.keys)
        events += working.writes
    }

    var working: Working { Working(keys: snapshots[Int(currentRevision)]) }
}
