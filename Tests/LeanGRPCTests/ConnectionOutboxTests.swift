import Dispatch
@testable import LeanGRPC
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The outbox's one promise: work runs in the order it was handed over, also when work being run
/// hands over more.
@Suite struct ConnectionOutboxTests {
    @Test func workRunsInTheOrderItWasHandedOverEvenWhenWorkHandsOverMore() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let outbox = ConnectionOutbox(eventLoop: loop)
        let order = Mutex<[String]>([])
        let record = { @Sendable (name: String) in order.withLock { $0.append(name) } }
        // The loop is held so that A and B are both waiting when it runs them.
        let gate = DispatchSemaphore(value: 0)
        loop.execute { gate.wait() }
        outbox.run {
            record("A")
            // Handed over while A runs: after B, which was handed over before.
            outbox.run { record("C") }
            outbox.run(mayRunNow: false) { record("D") }
        }
        outbox.run { record("B") }
        gate.signal()
        // On the loop with nothing waiting, work runs at once.
        let ranAtOnce = try await loop.submit {
            let ran = Mutex(false)
            outbox.run { ran.withLock { $0 = true } }
            return ran.withLock { $0 }
        }.get()
        #expect(ranAtOnce)
        #expect(order.withLock { $0 } == ["A", "B", "C", "D"])
        try await group.shutdownGracefully()
    }
}
