import EtcdClient
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite struct ConcurrencyRecipeTests {
    /// Five contenders with their own sessions increment a counter key by get-then-put, which loses
    /// updates unless the lock excludes them; also no two of them ever hold it at once.
    @Test func mutexExcludesContenders() async throws {
        try await withReferenceEtcd { member, client in
            let holders = HolderCount()
            let rounds = 6
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        let session = try await EtcdSession(client: client, ttl: 10)
                        let mutex = EtcdMutex(session: session, name: "locks/counter")
                        for _ in 0..<rounds {
                            try await mutex.withLock {
                                holders.enter()
                                let current = Int(String(try await client.get("counter").kvs.first?.value ?? Data("0".utf8))) ?? -1
                                try await Task.sleep(for: .milliseconds(5))
                                try await client.put("counter", String(current + 1))
                                holders.leave()
                            }
                        }
                        try await session.close()
                    }
                }
                try await group.waitForAll()
            }
            #expect(holders.maximum == 1)
            #expect(try await client.get("counter").kvs.first.map { String($0.value) } == String(5 * rounds))
            #expect(try await client.get("locks/counter/", .prefix).count == 0, "every lock key released")
        }
    }

    /// Our mutex and etcdctl's `lock` are the same protocol: while etcdctl holds the lock, our
    /// lock() waits; when etcdctl dies, its session's lease expires and our lock() gets the lock.
    @Test func mutexInteroperatesWithEtcdctlLock() async throws {
        try await withReferenceEtcd { member, client in
            let directory = try TemporaryDirectory(prefix: "etcdctl-lock")
            defer { directory.remove() }
            let holder = try ChildProcess(
                name: "etcdctl lock", executable: "/usr/bin/etcdctl",
                arguments: ["--endpoints", member.clientEndpoint, "lock", "shared", "--ttl", "2"],
                environment: ["ETCDCTL_API": "3"], logPath: directory.appending("etcdctl.log"))
            try await waitUntil("etcdctl to take the lock") {
                try holder.checkRunning()
                return try await client.get("shared/", .prefix).count == 1
            }
            let session = try await EtcdSession(client: client, ttl: 10)
            let acquired = Mutex(false)
            let waiter = Task {
                try await EtcdMutex(session: session, name: "shared").lock()
                acquired.withLock { $0 = true }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(!acquired.withLock { $0 }, "etcdctl still holds the lock")
            holder.send(SIGKILL)
            await holder.stop()
            try await waitUntil("our lock after etcdctl's lease expired", timeout: .seconds(30)) {
                acquired.withLock { $0 }
            }
            try await waiter.value
            try await session.close()
        }
    }

    @Test func electionHasOneLeaderAtATime() async throws {
        try await withReferenceEtcd { _, client in
            let first = try await EtcdSession(client: client, ttl: 10)
            let second = try await EtcdSession(client: client, ttl: 10)
            let electionA = EtcdElection(session: first, name: "election")
            let electionB = EtcdElection(session: second, name: "election")
            let term = try await electionA.campaign("a")
            #expect(try await electionA.leader().map { String($0.value) } == "a")

            let secondElected = Task { try await electionB.campaign("b") }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await electionA.leader().map { String($0.value) } == "a", "b waits while a leads")
            try await electionA.proclaim("a2", leaderRevision: term)
            #expect(try await electionB.leader().map { String($0.value) } == "a2")

            try await electionA.resign()
            _ = try await secondElected.value
            #expect(try await electionB.leader().map { String($0.value) } == "b")
            let stale = await #expect(throws: EtcdError.self) { try await electionA.proclaim("again", leaderRevision: term) }
            #expect(stale?.code == .notLeader)
            try await first.close()
            try await second.close()
        }
    }

    @Test func stmRetriesConflictingIncrements() async throws {
        try await withReferenceEtcd { _, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<8 {
                            try await client.stm { tx in
                                let value = Int(try await tx.get("balance") ?? "0")!
                                tx.put("balance", String(value + 1))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.get("balance").kvs.first.map { String($0.value) } == "32")
        }
    }

    @Test func closingASessionDeletesItsKeys() async throws {
        try await withReferenceEtcd { _, client in
            let session = try await EtcdSession(client: client, ttl: 5)
            try await client.put("owned", "x", .lease(session.leaseID))
            try await session.close()
            #expect(try await client.get("owned").count == 0)
            #expect(session.lossReason == nil)
        }
    }
}

/// How many contenders are inside a critical section now, and the most there ever were.
private final class HolderCount: Sendable {
    private let state = Mutex((current: 0, maximum: 0))
    func enter() { state.withLock { $0.current += 1; $0.maximum = max($0.maximum, $0.current) } }
    func leave() { state.withLock { $0.current -= 1 } }
    var maximum: Int { state.withLock { $0.maximum } }
}
