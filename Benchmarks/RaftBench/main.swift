// Raft core throughput: a 3-member in-memory cluster driven through the full Ready contract
// (persist to MemoryStorage, deliver messages, apply, advance), counting proposals committed and
// applied on the leader per second. Proposals are batched: `batchSize` proposals per Ready round.
//
// Run: swift run -c release RaftBench [payloadBytes] [batchSize] [seconds]
import Foundation
import Raft

let arguments = CommandLine.arguments
let payloadSize = arguments.count > 1 ? Int(arguments[1]) ?? 256 : 256
let batchSize = arguments.count > 2 ? Int(arguments[2]) ?? 1_000 : 1_000
let seconds = arguments.count > 3 ? Double(arguments[3]) ?? 5 : 5

let ids: [UInt64] = [1, 2, 3]
let storages = Dictionary(uniqueKeysWithValues: ids.map { ($0, MemoryStorage(confState: ConfState(voters: ids))) })
let nodes = Dictionary(uniqueKeysWithValues: ids.map { id in
    (id, RawNode(configuration: RaftConfiguration(id: id, maxSizePerMessage: 4 << 20, maxInflightMessages: 256),
                 storage: storages[id]!, randomSeed: id))
})
var appliedOnLeader = 0
var applied: [UInt64: UInt64] = [:]

/// Runs Ready rounds on every node until nothing is left to do.
@MainActor func settle() {
    var mailbox: [Message] = []
    while true {
        var progressed = false
        for id in ids {
            let node = nodes[id]!
            guard node.hasReady else { continue }
            progressed = true
            let ready = node.ready()
            let storage = storages[id]!
            if let snapshot = ready.snapshot { try! storage.applySnapshot(snapshot) }
            storage.append(ready.entries)
            if let hardState = ready.hardState { storage.setHardState(hardState) }
            mailbox.append(contentsOf: ready.messages)
            if id == 1 {
                for entry in ready.committedEntries where !entry.data.isEmpty { appliedOnLeader += 1 }
            }
            if let last = ready.committedEntries.last { applied[id] = last.index }
            node.advance(ready)
        }
        if !mailbox.isEmpty {
            progressed = true
            let delivering = mailbox
            mailbox = []
            for message in delivering { try? nodes[message.to]!.step(message) }
        }
        if !progressed { return }
    }
}

try nodes[1]!.campaign()
settle()
precondition(nodes[1]!.softState.raftState == .leader, "node 1 did not become leader")

let payload = [UInt8](repeating: 0xAB, count: payloadSize)
let start = Date()
var rounds = 0
while Date().timeIntervalSince(start) < seconds {
    for _ in 0..<batchSize { try nodes[1]!.propose(payload) }
    settle()
    rounds += 1
    // Keep memory bounded: compact every member's storage behind what it applied.
    if rounds % 50 == 0 {
        for id in ids {
            let index = applied[id] ?? 0
            if index > (try! storages[id]!.firstIndex()) { try? storages[id]!.compact(through: index) }
        }
    }
}
let elapsed = Date().timeIntervalSince(start)
let rate = Double(appliedOnLeader) / elapsed
print("RaftBench: 3 members, \(payloadSize)-byte proposals, \(batchSize) per Ready round: "
      + "\(appliedOnLeader) committed in \(String(format: "%.2f", elapsed)) s = \(Int(rate)) proposals/s")
