import Checksum
extension RevisionRecord {
    /// The record as etcd's backend stores it: `mvccpb.KeyValue` in protobuf encoding, with only
    /// the key for a tombstone. Hashing these bytes makes our `HashKV` equal to etcd's for the
    /// same history.
    func storedBytes(at revision: Revision) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.count + value.count + 40)
        func appendVarint(_ number: UInt64) {
            var number = number
            while number >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: number) | 0x80)
                number >>= 7
            }
            bytes.append(UInt8(number))
        }
        func appendBytes(field: UInt64, _ data: [UInt8]) {
            guard !data.isEmpty else { return }
            appendVarint(field << 3 | 2)
            appendVarint(UInt64(data.count))
            bytes.append(contentsOf: data)
        }
        func appendInteger(field: UInt64, _ number: Int64) {
            guard number != 0 else { return }
            appendVarint(field << 3)
            appendVarint(UInt64(bitPattern: number))
        }
        appendBytes(field: 1, key)
        if !isTombstone {
            appendInteger(field: 2, createRevision)
            appendInteger(field: 3, revision.main)
            appendInteger(field: 4, version)
            appendBytes(field: 5, value)
            appendInteger(field: 6, lease)
        }
        return bytes
    }
}

extension ReadView {
    /// etcd's `HashKV`: a CRC-32C of the history up to `revision` (0: current), skipping records
    /// at or below the compaction point that a compaction at `revision` would remove. Members with
    /// the same history agree; the bytes hashed are etcd's, so it agrees with etcd too.
    ///
    /// - Returns: the hash, the current revision and the compact revision.
    /// - Complexity: O(n).
    package func hashKV(revision: Int64) throws(MVCCError) -> (hash: UInt32, revision: Int64, compactRevision: Int64) {
        let compactRevision = state.compactRevision
        let currentRevision = state.currentRevision
        if revision > 0 && revision <= compactRevision { throw .compacted }
        if revision > currentRevision { throw .futureRevision }
        let atRevision = revision == 0 ? currentRevision : revision
        // etcd keeps every old record when nothing at all is live at the revision.
        let anyLive = state.collect([0], .unbounded, at: atRevision, latest: currentRevision,
                                    limit: 0, countOnly: true).count > 0
        var crc = CRC32C()
        crc.update("key".utf8)
        state.history.forEach(to: Revision(main: atRevision + 1)) { recordRevision, record in
            if recordRevision.main <= compactRevision && anyLive {
                let entry = state.live[record.key] ?? state.tombstoned[record.key]
                let kv = entry.flatMap { state.keyValue(record.key, $0, at: atRevision) }
                guard let kv, kv.modRevision == recordRevision.main else { return true }
            }
            crc.update(recordRevision.bytes(tombstone: record.isTombstone))
            crc.update(record.storedBytes(at: recordRevision))
            return true
        }
        return (crc.value, currentRevision, compactRevision)
    }

    /// A hash of the whole history held (etcd's `Hash` hashes its database file, which we do not
    /// have; this covers the same content). Equal on members with the same history.
    package func hash() -> UInt32 {
        var crc = CRC32C()
        state.history.forEach { recordRevision, record in
            crc.update(recordRevision.bytes(tombstone: record.isTombstone))
            crc.update(record.storedBytes(at: recordRevision))
            return true
        }
        return crc.value
    }
}
