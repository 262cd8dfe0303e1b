import BTreeStore

/// A cluster member as a snapshot records it (etcd's `membership.Member`).
package struct SnapshotMember: Hashable, Sendable {
    package var id: UInt64
    package var name: String
    /// Stored comma-joined, so a URL must not contain a comma (etcd's flags have the same rule).
    package var peerURLs: [String]
    /// Stored comma-joined, like `peerURLs`.
    package var clientURLs: [String]
    package var isLearner: Bool

    package init(id: UInt64, name: String, peerURLs: [String], clientURLs: [String], isLearner: Bool) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }
}

/// A lease as a snapshot records it: a restored lease restarts from `remainingTTL`.
package struct SnapshotLease: Hashable, Sendable {
    package var id: Int64
    package var ttl: Int64
    package var remainingTTL: Int64

    package init(id: Int64, ttl: Int64, remainingTTL: Int64) {
        self.id = id
        self.ttl = ttl
        self.remainingTTL = remainingTTL
    }
}

/// A raised alarm (etcd's `AlarmMember`): `alarm` is `etcdserverpb.AlarmType`'s raw value.
package struct SnapshotAlarm: Hashable, Sendable {
    package var memberID: UInt64
    package var alarm: Int32

    package init(memberID: UInt64, alarm: Int32) {
        self.memberID = memberID
        self.alarm = alarm
    }
}

/// Everything a member needs to resume from a Raft snapshot instead of replaying the log from the
/// start: the applied state machine (store, leases, alarms, membership) as of entry `index`.
///
/// `members` and `leases` are keyed by id: a file holds them, and ``SnapshotFile/read(from:)``
/// returns them, in ascending id order. `voters`, `learners` and `alarms` keep the order written.
package struct SnapshotContents: Hashable, Sendable {
    /// The Raft applied index the snapshot reflects.
    package var index: UInt64
    /// The term of that entry.
    package var term: UInt64
    package var voters: [UInt64]
    package var learners: [UInt64]
    package var clusterID: UInt64
    package var members: [SnapshotMember]
    package var store: MVCCSnapshot
    package var leases: [SnapshotLease]
    package var alarms: [SnapshotAlarm]

    package init(index: UInt64, term: UInt64, voters: [UInt64], learners: [UInt64], clusterID: UInt64,
                 members: [SnapshotMember], store: MVCCSnapshot, leases: [SnapshotLease],
                 alarms: [SnapshotAlarm]) {
        self.index = index
        self.term = term
        self.voters = voters
        self.learners = learners
        self.clusterID = clusterID
        self.members = members
        self.store = store
        self.leases = leases
        self.alarms = alarms
    }
}

/// What `etcdctl snapshot status` shows about a snapshot file, read without building the store.
package struct SnapshotSummary: Hashable, Sendable {
    /// The Raft applied index the snapshot reflects.
    package var index: UInt64
    /// The term of that entry.
    package var term: UInt64
    /// The store's current revision.
    package var revision: Int64
    package var compactRevision: Int64
    /// Distinct keys live at `revision`.
    package var totalKeys: Int
    /// History rows (every revision of every key since the compaction, tombstones included).
    package var records: Int
    /// The file's size in bytes.
    package var fileSize: Int64
    /// The content checksum stored in the file (and verified against its content).
    package var hash: UInt32

    package init(index: UInt64, term: UInt64, revision: Int64, compactRevision: Int64, totalKeys: Int,
                 records: Int, fileSize: Int64, hash: UInt32) {
        self.index = index
        self.term = term
        self.revision = revision
        self.compactRevision = compactRevision
        self.totalKeys = totalKeys
        self.records = records
        self.fileSize = fileSize
        self.hash = hash
    }
}
