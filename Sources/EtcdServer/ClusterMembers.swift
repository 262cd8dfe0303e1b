import EtcdProto
import Foundation
import Raft
import SnapshotFile
import Synchronization

/// One member of the cluster as the log describes it. `name` and `clientURLs` are empty until the
/// member has started and published them (etcd's "unstarted" member).
package struct ClusterMember: Sendable, Hashable {
    package var id: UInt64
    package var name: String
    package var peerURLs: [String]
    package var clientURLs: [String]
    package var isLearner: Bool

    package var isStarted: Bool { !name.isEmpty }

    var proto: Etcdserverpb_Member {
        var member = Etcdserverpb_Member()
        member.id = id
        member.name = name
        member.peerUrls = peerURLs
        member.clientUrls = clientURLs
        member.isLearner = isLearner
        return member
    }

    init(id: UInt64, name: String, peerURLs: [String], clientURLs: [String], isLearner: Bool) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    init(_ proto: Etcdserverpb_Member) {
        self.init(id: proto.id, name: proto.name, peerURLs: proto.peerUrls, clientURLs: proto.clientUrls,
                  isLearner: proto.isLearner)
    }

    init(_ snapshot: SnapshotMember) {
        self.init(id: snapshot.id, name: snapshot.name, peerURLs: snapshot.peerURLs,
                  clientURLs: snapshot.clientURLs, isLearner: snapshot.isLearner)
    }

    var snapshotMember: SnapshotMember {
        SnapshotMember(id: id, name: name, peerURLs: peerURLs, clientURLs: clientURLs, isLearner: isLearner)
    }
}

/// The membership every member derives from the log (etcd's `RaftCluster`): conf-change entries
/// add, promote and remove members; attribute entries record names and client URLs. Written by
/// the Raft driver's thread as it applies; read from any thread (MemberList, the transport).
package final class ClusterMembers: Sendable {
    private struct State {
        var members: [UInt64: ClusterMember] = [:]
        var removed: Set<UInt64> = []
    }

    private let state = Mutex(State())

    init() {}

    /// Every member, by id.
    package var all: [ClusterMember] {
        state.withLock { $0.members.values.sorted { $0.id < $1.id } }
    }

    package func member(_ id: UInt64) -> ClusterMember? { state.withLock { $0.members[id] } }

    package func isRemoved(_ id: UInt64) -> Bool { state.withLock { $0.removed.contains(id) } }

    var votingMembers: [ClusterMember] { all.filter { !$0.isLearner } }

    // MARK: Changes at apply

    /// Whether a conf change may take effect, checked identically on every member at apply
    /// (etcd's `ValidateConfigurationChange`); nil when it may.
    func validate(_ change: ConfChange, member: ClusterMember?) -> ServerError? {
        state.withLock { state in
            if state.removed.contains(change.nodeID) { return .memberNotFound }
            switch change.type {
            case .addNode, .addLearnerNode:
                if let existing = state.members[change.nodeID] {
                    // Adding an existing learner as a voter is a promotion.
                    if change.type == .addNode && member?.isLearner == false {
                        return existing.isLearner ? nil : .memberNotLearner
                    }
                    return .memberExists
                }
                let urls = Set(member?.peerURLs ?? [])
                if state.members.values.contains(where: { !urls.isDisjoint(with: $0.peerURLs) }) {
                    return .peerURLExists
                }
                if change.type == .addLearnerNode && state.members.values.contains(where: \.isLearner) {
                    return .tooManyLearners
                }
                return nil
            case .removeNode:
                return state.members[change.nodeID] == nil ? .memberNotFound : nil
            }
        }
    }

    func apply(_ change: ConfChange, member: ClusterMember?) {
        state.withLock { state in
            switch change.type {
            case .addNode, .addLearnerNode:
                if var existing = state.members[change.nodeID] {
                    existing.isLearner = change.type == .addLearnerNode
                    state.members[change.nodeID] = existing
                } else {
                    var added = member ?? ClusterMember(id: change.nodeID, name: "", peerURLs: [], clientURLs: [],
                                                       isLearner: false)
                    added.id = change.nodeID
                    added.isLearner = change.type == .addLearnerNode
                    state.members[change.nodeID] = added
                }
            case .removeNode:
                state.members[change.nodeID] = nil
                state.removed.insert(change.nodeID)
            }
        }
    }

    /// A started member's name and client URLs (etcd's publish).
    func setAttributes(id: UInt64, name: String, clientURLs: [String]) {
        state.withLock { state in
            state.members[id]?.name = name
            state.members[id]?.clientURLs = clientURLs
        }
    }

    func setPeerURLs(id: UInt64, peerURLs: [String]) {
        state.withLock { state in state.members[id]?.peerURLs = peerURLs }
    }

    /// Replaces everything (a snapshot installed or recovered).
    func replace(with members: [ClusterMember]) {
        state.withLock { state in
            state.members = [:]
            for member in members { state.members[member.id] = member }
        }
    }
}

/// The data of a membership conf-change entry: the proposer's request id (8 bytes, how it finds
/// its waiting caller, as for other entries) and the member, as etcd's protobuf `Member`.
enum ConfChangeContext {
    static func encode(id: UInt64, member: ClusterMember) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: (try? member.proto.serializedBytes()) ?? [])
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> (id: UInt64, member: ClusterMember?) {
        guard bytes.count >= 8 else { return (0, nil) }
        var id: UInt64 = 0
        for shift in 0..<8 { id |= UInt64(bytes[shift]) << (8 * UInt64(shift)) }
        let member = try? Etcdserverpb_Member(serializedBytes: Array(bytes[8...]))
        return (id, member.map(ClusterMember.init))
    }
}
