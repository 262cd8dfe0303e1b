import Testing
@testable import Raft

/// Entries with the given terms at consecutive indexes from `first`.
func makeEntries(_ terms: [UInt64], from first: UInt64 = 1) -> [Entry] {
    terms.enumerated().map { Entry(term: $1, index: first + UInt64($0)) }
}

/// Builds a RaftNode over a MemoryStorage holding `logTerms` (entry i + 1 has term logTerms[i]).
func makeRaftNode(
    id: UInt64, peers: [UInt64], learners: [UInt64] = [], logTerms: [UInt64] = [], hardState: HardState = HardState(),
    configure: (inout RaftConfiguration) -> Void = { _ in }
) -> (RaftNode, MemoryStorage) {
    let storage = MemoryStorage(confState: ConfState(voters: peers, learners: learners))
    storage.append(makeEntries(logTerms))
    storage.setHardState(hardState)
    var configuration = RaftConfiguration(id: id, electionTick: 10, heartbeatTick: 1, preVote: false)
    configure(&configuration)
    let node = RaftNode(configuration: configuration, storage: storage,
                        randomNumberGenerator: SeededRandomNumberGenerator(seed: id))
    return (node, storage)
}

extension RaftNode {
    /// What handling a Ready does to the log: moves unstable entries and snapshot into the
    /// MemoryStorage and tells the node they are persisted.
    func persistUnstable() {
        guard let storage = log.storage as? MemoryStorage else { return }
        if let snapshot = log.unstable.snapshot {
            try? storage.applySnapshot(snapshot)
            log.stableSnapshotTo(index: snapshot.metadata.index)
        }
        let entries = log.unstableEntries
        storage.append(entries)
        if let last = entries.last { log.stableTo(index: last.index, term: last.term) }
        persisted()
    }

    /// The messages produced so far (flushing batched appends), clearing them. Persists first, as the
    /// Ready contract requires before sending.
    func takeMessages() -> [Message] {
        persistUnstable()
        flushPendingAppends()
        defer { messages = [] }
        return messages
    }

    /// The terms of every entry from the first index on.
    var logTerms: [UInt64] {
        guard log.lastIndex >= log.firstIndex else { return [] }
        return (log.firstIndex...log.lastIndex).map { (try? log.term(at: $0)) ?? 0 }
    }

    /// Proposes `count` entries of `size` bytes directly on this node (no Ready in between).
    func propose(count: Int, size: Int = 1) throws {
        for _ in 0..<count {
            try step(Message(type: .propose, from: id, entries: [Entry(data: [UInt8](repeating: 1, count: size))]))
        }
    }

    func tick(_ count: Int) {
        for _ in 0..<count { tick() }
    }
}

/// A synchronous network of RaftNodes, as in etcd's raft tests: `send` delivers messages breadth
/// first until none are left; links can be cut and message types dropped.
final class TestNetwork {
    var nodes: [UInt64: RaftNode] = [:]
    var storages: [UInt64: MemoryStorage] = [:]
    private var cutLinks: Set<[UInt64]> = []
    var droppedTypes: Set<MessageType> = []
    /// Drops any message for which it returns true.
    var dropFilter: ((Message) -> Bool)?
    /// Every message delivered, for assertions.
    private(set) var delivered: [Message] = []

    init(_ ids: [UInt64], configure: (inout RaftConfiguration) -> Void = { _ in }) {
        for id in ids {
            let (node, storage) = makeRaftNode(id: id, peers: ids, configure: configure)
            nodes[id] = node
            storages[id] = storage
        }
    }

    init(nodes: [RaftNode]) {
        for node in nodes { self.nodes[node.id] = node }
    }

    func send(_ messages: [Message]) {
        var queue = messages
        var deliveries = 0
        while !queue.isEmpty {
            deliveries += 1
            // A bug can make nodes ping-pong forever; fail the test instead of hanging it.
            guard deliveries <= 100_000 else {
                Issue.record("message storm: more than 100,000 deliveries in one send")
                return
            }
            let message = queue.removeFirst()
            if droppedTypes.contains(message.type) || cutLinks.contains([message.from, message.to]) { continue }
            if let dropFilter, dropFilter(message) { continue }
            guard let node = nodes[message.to] else { continue }
            delivered.append(message)
            try? node.step(message)
            queue.append(contentsOf: node.takeMessages())
        }
    }

    /// Starts an election on `id` and runs it to completion.
    func campaign(_ id: UInt64) {
        send([Message(type: .hup, to: id, from: id)])
    }

    func propose(_ id: UInt64, _ data: [UInt8] = [1]) {
        send([Message(type: .propose, to: id, from: id, entries: [Entry(data: data)])])
    }

    func cut(_ first: UInt64, _ second: UInt64) {
        cutLinks.insert([first, second])
        cutLinks.insert([second, first])
    }

    func isolate(_ id: UInt64) {
        for other in nodes.keys where other != id { cut(id, other) }
    }

    func recover() {
        cutLinks = []
        droppedTypes = []
        dropFilter = nil
    }

    /// Delivers whatever `id` has produced (e.g. after ticks).
    func flush(_ id: UInt64) {
        send(nodes[id]!.takeMessages())
    }

    func flushAll() {
        for id in nodes.keys.sorted() { flush(id) }
    }
}
