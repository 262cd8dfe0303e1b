import EtcdServer
import Testing

/// The lessor's promises to clients across leader changes: a renewal's TTL holds however the
/// leadership moves, and an expired lease cannot be renewed back to life.
@Suite struct LessorTests {
    @Test func anExpiredLeaseIsNotRenewed() throws {
        let lessor = Lessor(minimumTTL: 1)
        lessor.promote(extension: .zero)
        _ = try lessor.grant(id: 7, ttl: 1)
        #expect(try lessor.renew(id: 7)?.ttl == 1)
        // Past its deadline the lease waits for its revocation; a renewal must not promise more.
        let deadline = ContinuousClock.now + .milliseconds(1100)
        while ContinuousClock.now < deadline {}
        #expect(try lessor.renew(id: 7) == nil)
        #expect(lessor.expired() == [7])
    }

    /// A checkpoint shortens where a new leader restarts a lease; a renewal afterwards restores
    /// the full TTL locally and asks for a checkpoint that does the same everywhere.
    @Test func aRenewalUndoesAnEarlierCheckpoint() throws {
        let leader = Lessor(minimumTTL: 1)
        let follower = Lessor(minimumTTL: 1)
        leader.promote(extension: .zero)
        for lessor in [leader, follower] {
            _ = try lessor.grant(id: 9, ttl: 30)
            lessor.checkpoint([(id: 9, remainingTTL: 2)])
        }
        let renewed = try #require(try leader.renew(id: 9))
        #expect(renewed.ttl == 30 && renewed.resetCheckpoint)
        #expect(try leader.renew(id: 9)?.resetCheckpoint == false)
        #expect(throws: ServerError.notLeader) { _ = try follower.renew(id: 9) }
        // The reset checkpoint (0 = the full TTL, as etcd writes it) reaches the follower, which
        // as the next leader gives the lease its full TTL plus the extension.
        follower.checkpoint([(id: 9, remainingTTL: 0)])
        follower.promote(extension: .seconds(1))
        #expect(follower.timeToLive(id: 9)?.remaining == 30)
    }

    /// A new leader adds the extension to every lease's remaining TTL.
    @Test func promotionExtendsEveryLease() throws {
        let lessor = Lessor(minimumTTL: 1)
        _ = try lessor.grant(id: 3, ttl: 5)
        lessor.promote(extension: .seconds(2))
        #expect(lessor.timeToLive(id: 3)?.remaining == 6)
    }
}
