import EtcdClient
import Foundation
import Testing
import TestSupport

@Suite struct LeaseTests {
    @Test func keepAliveHoldsALeasePastItsTTLAndEndsWhenRevoked() async throws {
        try await withReferenceEtcd { _, client in
            let lease = try await client.grantLease(ttl: 2)
            try await client.put("alive", "yes", .lease(lease.id))
            var renewals = 0
            let keeper = Task {
                var count = 0
                for try await response in client.keepAlive(leaseID: lease.id) {
                    #expect(response.id == lease.id && response.ttl == 2)
                    count += 1
                }
                return count
            }
            try await Task.sleep(for: .seconds(5))
            #expect(try await client.get("alive").count == 1, "kept alive past twice its TTL")
            let ttl = try await client.leaseTimeToLive(lease.id, keys: true)
            #expect(ttl.ttl > 0 && ttl.keys.map { String($0) } == ["alive"])
            #expect(try await client.leases().leases.map(\.id) == [lease.id])

            try await client.revokeLease(lease.id)
            let ended = await #expect(throws: EtcdError.self) { renewals = try await keeper.value }
            #expect(ended?.code == .leaseNotFound)
            #expect(renewals == 0)
            #expect(try await client.get("alive").count == 0)
        }
    }

    @Test func aLeaseWithoutKeepAliveExpires() async throws {
        try await withReferenceEtcd { _, client in
            let lease = try await client.grantLease(ttl: 1)
            try await client.put("ephemeral", "v", .lease(lease.id))
            try await waitUntil("the lease to expire", timeout: .seconds(10)) {
                try await client.get("ephemeral").count == 0
            }
            let expired = try await client.leaseTimeToLive(lease.id)
            #expect(expired.ttl == -1)
        }
    }
}
