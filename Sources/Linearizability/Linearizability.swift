/// A sequential specification of an object: the histories of concurrent operations on it are
/// checked against it.
public protocol SequentialModel {
    associatedtype State: Hashable
    associatedtype Input
    associatedtype Output

    /// The object's state before any operation.
    static var initialState: State { get }

    /// The state after applying `input` to `state`, if the object could have answered `output`
    /// there; nil if it could not. `output` is nil when the caller never learnt the outcome
    /// (a timeout, a lost connection): the operation may have taken effect or not.
    static func step(_ state: State, _ input: Input, _ output: Output?) -> State?
}

/// One operation of a history: what a client asked, what it was told, and when.
public struct RecordedOperation<Input, Output> {
    public var client: Int
    public var input: Input
    /// nil: the outcome is unknown (the operation may or may not have taken effect).
    public var output: Output?
    /// When the client sent the request (any monotonic clock, one for the whole history).
    public var invoked: UInt64
    /// When the answer arrived; nil when it never did.
    public var returned: UInt64?

    public init(client: Int, input: Input, output: Output?, invoked: UInt64, returned: UInt64?) {
        self.client = client
        self.input = input
        self.output = output
        self.invoked = invoked
        self.returned = returned
    }
}

extension RecordedOperation: Sendable where Input: Sendable, Output: Sendable {}

/// The verdict on a history.
public enum LinearizabilityResult: Equatable, Sendable {
    /// Some order of the operations, each placed between its invocation and its return, explains
    /// every answer.
    case linearizable
    /// No such order exists. `longestPrefix` holds the indexes of the most operations that could
    /// be placed in order; `blocked` the operations none of which could come next.
    case violation(longestPrefix: [Int], blocked: [Int])
    /// The search gave up after `steps` steps without deciding.
    case undecided(steps: Int)
}

/// Wing and Gong's search for a linearization, with Lowe's memoisation of (operations placed,
/// state) pairs, as Porcupine and Knossos implement it. An operation whose answer never came has
/// its return at the end of time: it may be placed anywhere after its invocation, last of all
/// being the same as not having happened.
public enum LinearizabilityChecker {
    public static func check<Model: SequentialModel>(
        _ model: Model.Type, _ history: [RecordedOperation<Model.Input, Model.Output>], maximumSteps: Int = 10_000_000
    ) -> LinearizabilityResult {
        var list = EventList(history)
        var state = Model.initialState
        var placed = OperationSet(count: history.count)
        var seen: Set<SearchKey<Model.State>> = []
        // The call events of the operations placed so far, with the state before each.
        var stack: [(call: Int, before: Model.State)] = []
        var longest: [Int] = []
        var steps = 0
        var event = list.first
        while let current = event {
            steps += 1
            if steps > maximumSteps { return .undecided(steps: steps) }
            let operation = list.events[current].operation
            if list.events[current].isCall {
                let entry = history[operation]
                if let next = Model.step(state, entry.input, entry.output) {
                    placed.insert(operation)
                    if seen.insert(SearchKey(placed: placed, state: next)).inserted {
                        stack.append((current, state))
                        state = next
                        list.lift(current)
                        event = list.first
                        continue
                    }
                    placed.remove(operation)
                }
                event = list.events[current].next
            } else {
                // An operation returned before any order could place it: undo the last placement.
                // The deepest placements are always followed by one, so the longest prefix is
                // recorded here rather than on every placement.
                if stack.count > longest.count { longest = stack.map { list.events[$0.call].operation } }
                guard let (call, before) = stack.popLast() else {
                    return .violation(longestPrefix: longest, blocked: blockedOperations(longest, history))
                }
                state = before
                placed.remove(list.events[call].operation)
                list.unlift(call)
                event = list.events[call].next
            }
        }
        return .linearizable
    }

    /// The operations not in `prefix` that were invoked before the earliest return among them:
    /// the candidates for the next place, none of which fits.
    private static func blockedOperations<Input, Output>(_ prefix: [Int], _ history: [RecordedOperation<Input, Output>]) -> [Int] {
        let placed = Set(prefix)
        let pending = history.indices.filter { !placed.contains($0) }
        guard let earliestReturn = pending.compactMap({ history[$0].returned }).min() else { return pending }
        return pending.filter { history[$0].invoked <= earliestReturn }
    }
}

private struct SearchKey<State: Hashable>: Hashable {
    var placed: OperationSet
    var state: State
}

/// A set of operation indexes as bits.
private struct OperationSet: Hashable {
    private var words: [UInt64]

    init(count: Int) { words = Array(repeating: 0, count: (count + 63) / 64) }

    mutating func insert(_ index: Int) { words[index / 64] |= 1 << UInt64(index % 64) }
    mutating func remove(_ index: Int) { words[index / 64] &= ~(1 << UInt64(index % 64)) }
}

/// The invocations and returns of a history in time order, as a doubly linked list from which an
/// operation's two events are lifted when it is placed and put back when the search backtracks.
private struct EventList {
    struct Event {
        var operation: Int
        var isCall: Bool
        var time: UInt64
        var match = 0
        var previous: Int?
        var next: Int?
    }

    var events: [Event] = []
    var first: Int?

    init<Input, Output>(_ history: [RecordedOperation<Input, Output>]) {
        for (index, operation) in history.enumerated() {
            events.append(Event(operation: index, isCall: true, time: operation.invoked))
            events.append(Event(operation: index, isCall: false, time: operation.returned ?? .max))
        }
        // By time; at equal times invocations first, so that touching operations count as concurrent.
        let order = events.indices.sorted { a, b in
            events[a].time != events[b].time ? events[a].time < events[b].time : (events[a].isCall && !events[b].isCall)
        }
        for index in stride(from: 0, to: events.count, by: 2) {
            events[index].match = index + 1
            events[index + 1].match = index
        }
        for (position, index) in order.enumerated() {
            events[index].previous = position > 0 ? order[position - 1] : nil
            events[index].next = position + 1 < order.count ? order[position + 1] : nil
        }
        first = order.first
    }

    /// Takes out a call and its return.
    mutating func lift(_ call: Int) {
        remove(call)
        remove(events[call].match)
    }

    /// Puts a lifted call and its return back where they were.
    mutating func unlift(_ call: Int) {
        reinsert(events[call].match)
        reinsert(call)
    }

    private mutating func remove(_ index: Int) {
        let (previous, next) = (events[index].previous, events[index].next)
        if let previous { events[previous].next = next } else { first = next }
        if let next { events[next].previous = previous }
    }

    private mutating func reinsert(_ index: Int) {
        let (previous, next) = (events[index].previous, events[index].next)
        if let previous { events[previous].next = index } else { first = index }
        if let next { events[next].previous = index }
    }
}
