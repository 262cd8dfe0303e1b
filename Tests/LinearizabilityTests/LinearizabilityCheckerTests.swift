import Linearizability
import Testing
import TestSupport

typealias RegisterOperation = RecordedOperation<RegisterModel.Input, RegisterModel.Output>

func op(_ client: Int, _ input: RegisterModel.Input, _ output: RegisterModel.Output?, _ invoked: UInt64, _ returned: UInt64?) -> RegisterOperation {
    RegisterOperation(client: client, input: input, output: output, invoked: invoked, returned: returned)
}

@Suite struct LinearizabilityCheckerTests {
    @Test func overlappingReadMaySeeTheWriteOrNot() {
        let sees = [op(0, .write("a"), .written, 0, 10), op(1, .read, .read("a"), 5, 15)]
        let misses = [op(0, .write("a"), .written, 0, 10), op(1, .read, .read(nil), 5, 15)]
        #expect(LinearizabilityChecker.check(RegisterModel.self, sees) == .linearizable)
        #expect(LinearizabilityChecker.check(RegisterModel.self, misses) == .linearizable)
    }

    @Test func aStaleReadAfterTheWriteReturnedIsAViolation() {
        let history = [op(0, .write("a"), .written, 0, 10), op(1, .read, .read(nil), 20, 30)]
        #expect(LinearizabilityChecker.check(RegisterModel.self, history) == .violation(longestPrefix: [0], blocked: [1]))
    }

    @Test func readsMustAgreeOnTheOrderOfConcurrentWrites() {
        // Two concurrent writes; one reader sees a then b, another sees b then a: no single order.
        let history = [
            op(0, .write("a"), .written, 0, 100), op(1, .write("b"), .written, 0, 100),
            op(2, .read, .read("a"), 10, 20), op(2, .read, .read("b"), 30, 40),
            op(3, .read, .read("b"), 10, 20), op(3, .read, .read("a"), 30, 40),
        ]
        guard case .violation = LinearizabilityChecker.check(RegisterModel.self, history) else {
            Issue.record("expected a violation")
            return
        }
        let consistent = Array(history.prefix(5)) + [op(3, .read, .read("b"), 30, 40)]
        #expect(LinearizabilityChecker.check(RegisterModel.self, consistent) == .linearizable)
    }

    @Test func anUnansweredWriteMayHaveHappenedOrNot() {
        let seen = [op(0, .write("a"), nil, 0, nil), op(1, .read, .read("a"), 50, 60), op(1, .read, .read("a"), 70, 80)]
        let unseen = [op(0, .write("a"), nil, 0, nil), op(1, .read, .read(nil), 50, 60)]
        // Once seen, it cannot be unseen.
        let flapping = [op(0, .write("a"), nil, 0, nil), op(1, .read, .read("a"), 50, 60), op(1, .read, .read(nil), 70, 80)]
        #expect(LinearizabilityChecker.check(RegisterModel.self, seen) == .linearizable)
        #expect(LinearizabilityChecker.check(RegisterModel.self, unseen) == .linearizable)
        #expect(LinearizabilityChecker.check(RegisterModel.self, flapping) != .linearizable)
    }

    @Test func compareAndSetSucceedsOnlyOnTheExpectedValue() {
        let good = [op(0, .write("a"), .written, 0, 10), op(1, .compareAndSet(expected: "a", new: "b"), .compareAndSet(succeeded: true), 20, 30),
                    op(2, .compareAndSet(expected: "a", new: "c"), .compareAndSet(succeeded: false), 40, 50), op(0, .read, .read("b"), 60, 70)]
        let twoWinners = [op(0, .write("a"), .written, 0, 10),
                          op(1, .compareAndSet(expected: "a", new: "b"), .compareAndSet(succeeded: true), 20, 30),
                          op(2, .compareAndSet(expected: "a", new: "c"), .compareAndSet(succeeded: true), 20, 30)]
        #expect(LinearizabilityChecker.check(RegisterModel.self, good) == .linearizable)
        #expect(LinearizabilityChecker.check(RegisterModel.self, twoWinners) != .linearizable)
    }

    /// Histories made from a sequential run, each operation's interval stretched around its moment
    /// in the run, are linearizable; a read then answering a value never written is not.
    @Test(arguments: 0..<20) func randomHistoriesFromASequentialRun(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var history: [RegisterOperation] = []
        var value: String? = nil
        for moment in 0..<60 {
            let at = UInt64(moment * 10)
            let invoked = at - min(at, random.next() % 40)
            let returned: UInt64? = random.next() % 10 == 0 ? nil : at + random.next() % 40
            switch random.next() % 3 {
            case 0:
                history.append(op(Int(random.next() % 5), .read, .read(value), invoked, returned ?? at + 1))
            case 1:
                let new = "v\(moment)"
                value = new
                history.append(op(Int(random.next() % 5), .write(new), returned == nil ? nil : .written, invoked, returned))
            default:
                let expected = random.next() % 2 == 0 ? value : "stale"
                let succeeded = expected == value
                if succeeded { value = "c\(moment)" }
                history.append(op(Int(random.next() % 5), .compareAndSet(expected: expected, new: "c\(moment)"),
                                  .compareAndSet(succeeded: succeeded), invoked, returned ?? at + 1))
            }
        }
        #expect(LinearizabilityChecker.check(RegisterModel.self, history) == .linearizable, "seed \(seed)")
        guard let read = history.indices.filter({ history[$0].input == .read }).last else { return }
        var corrupted = history
        corrupted[read].output = .read("never-written")
        guard case .violation(_, let blocked) = LinearizabilityChecker.check(RegisterModel.self, corrupted) else {
            Issue.record("seed \(seed): a read of a value never written was accepted")
            return
        }
        #expect(blocked.contains(read), "seed \(seed)")
    }
}
