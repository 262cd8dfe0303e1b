/// The membership of the cluster: who votes and who only learns. Part of every snapshot, so that a
/// node restored from one knows its peers.
public struct ConfState: Sendable, Hashable {
    /// Members whose acknowledgements count for commit and elections, sorted.
    public var voters: [UInt64]
    /// Members that receive the log but never vote, sorted.
    public var learners: [UInt64]

    /// Creates a configuration; the lists are sorted so that equal memberships compare equal.
    public init(voters: [UInt64] = [], learners: [UInt64] = []) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
    }

    /// True when `id` is a voter or a learner.
    public func contains(_ id: UInt64) -> Bool {
        voters.contains(id) || learners.contains(id)
    }
}
