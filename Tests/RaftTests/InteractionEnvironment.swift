@testable import Raft

/// The cluster behind the script tests: RawNodes over MemoryStorage, driven command by command, with
/// every Ready and message printed in a compact form close to etcd's interaction tests.
final class InteractionEnvironment {
    struct UnknownCommand: Error, CustomStringConvertible {
        var description: String
    }

    private var nodes: [UInt64: RawNode] = [:]
    private var storages: [UInt64: MemoryStorage] = [:]
    private var mailbox: [Message] = []
    private var isolated: Set<UInt64> = []
    private var applied: [UInt64: [String]] = [:]

    private var ids: [UInt64] { nodes.keys.sorted() }

    func handle(_ command: ScriptTestRunner.Command) throws -> String {
        switch command.name {
        case "add-nodes":
            return addNodes(command)
        case "campaign":
            try node(command).campaign()
            return ""
        case "propose":
            try node(command).propose(Array((command.positional.dropFirst().first ?? "").utf8))
            return ""
        case "propose-conf-change":
            let change = try confChange(command)
            try node(command).proposeConfChange(change)
            return ""
        case "tick-election":
            let target = try node(command)
            for _ in 0..<(2 * 10) { target.tick() }
            return ""
        case "tick-heartbeat":
            try node(command).tick()
            return ""
        case "transfer-leadership":
            guard let from = command.value("from").flatMap(UInt64.init), let to = command.value("to").flatMap(UInt64.init) else {
                throw UnknownCommand(description: "transfer-leadership needs from= and to=")
            }
            try nodes[from]!.transferLeadership(to: to)
            return ""
        case "read-index":
            try node(command).readIndex(context: Array((command.positional.dropFirst().first ?? "").utf8))
            return ""
        case "isolate":
            isolated.insert(try id(command))
            return ""
        case "recover":
            isolated = []
            return ""
        case "compact":
            let target = try id(command)
            guard let index = command.positional.dropFirst().first.flatMap(UInt64.init) else {
                throw UnknownCommand(description: "compact needs an index")
            }
            let storage = storages[target]!
            try storage.createSnapshot(index: index, confState: nodes[target]!.raft.tracker.confState, data: Array("snap@\(index)".utf8))
            try storage.compact(through: index)
            return ""
        case "stabilize":
            return stabilize()
        case "process-ready":
            return processReady(try id(command))
        case "deliver-msgs":
            return deliver(to: try id(command))
        case "raft-state":
            return ids.map { id in
                let node = nodes[id]!
                return "\(id): \(node.softState.raftState) term=\(node.hardState.term) lead=\(node.softState.lead) commit=\(node.hardState.commit)"
            }.joined(separator: "\n")
        case "raft-log":
            let target = try id(command)
            let log = nodes[target]!.raft.log
            guard log.lastIndex >= log.firstIndex else { return "log is empty: first index=\(log.firstIndex)" }
            let entries = (try? log.slice(from: log.firstIndex, to: log.lastIndex + 1, maxSize: .max)) ?? []
            return entries.map(describe).joined(separator: "\n")
        case "status":
            let raft = nodes[try id(command)]!.raft
            return raft.tracker.memberIDs.map { "\($0): \(raft.tracker.progress[$0]!)" }.joined(separator: "\n")
        case "applied":
            return ids.map { "\($0): \((applied[$0] ?? []).joined(separator: " "))" }.joined(separator: "\n")
        default:
            throw UnknownCommand(description: "unknown command \(command.name)")
        }
    }

    private func id(_ command: ScriptTestRunner.Command) throws -> UInt64 {
        guard let text = command.positional.first, let id = UInt64(text), nodes[id] != nil else {
            throw UnknownCommand(description: "\(command.name) needs a node ID")
        }
        return id
    }

    private func node(_ command: ScriptTestRunner.Command) throws -> RawNode {
        nodes[try id(command)]!
    }

    private func confChange(_ command: ScriptTestRunner.Command) throws -> ConfChange {
        for (key, type) in [("add", ConfChange.ChangeType.addNode), ("add-learner", .addLearnerNode), ("remove", .removeNode)] {
            if let value = command.value(key), let id = UInt64(value) { return ConfChange(type: type, nodeID: id) }
        }
        throw UnknownCommand(description: "propose-conf-change needs add=, add-learner= or remove=")
    }

    private func addNodes(_ command: ScriptTestRunner.Command) -> String {
        let count = UInt64(command.positional.first ?? "1") ?? 1
        let voters = command.value("voters").map { $0.split(separator: ",").compactMap { UInt64($0) } }
        let learners = command.value("learners").map { $0.split(separator: ",").compactMap { UInt64($0) } } ?? []
        let first = UInt64(nodes.count) + 1
        for id in first..<(first + count) {
            let confState = ConfState(voters: voters ?? Array(first..<(first + count)), learners: learners)
            let storage = MemoryStorage(confState: confState)
            var configuration = RaftConfiguration(id: id, electionTick: 10, heartbeatTick: 1)
            if let preVote = command.value("prevote") { configuration.preVote = preVote == "true" }
            if let checkQuorum = command.value("checkquorum") { configuration.checkQuorum = checkQuorum == "true" }
            storages[id] = storage
            nodes[id] = RawNode(configuration: configuration, storage: storage, randomSeed: id)
        }
        return ""
    }

    /// Handles one Ready of `id` the way a server does, printing it.
    private func processReady(_ id: UInt64) -> String {
        let node = nodes[id]!
        guard node.hasReady else { return "" }
        let ready = node.ready()
        let storage = storages[id]!
        var lines: [String] = ["> \(id) handling Ready"]
        if let softState = ready.softState { lines.append("  Lead:\(softState.lead) State:\(softState.raftState)") }
        if let hardState = ready.hardState { lines.append("  HardState Term:\(hardState.term) Vote:\(hardState.vote) Commit:\(hardState.commit)") }
        if let snapshot = ready.snapshot {
            lines.append("  Snapshot Index:\(snapshot.metadata.index) Term:\(snapshot.metadata.term) Voters:\(snapshot.metadata.confState.voters) Learners:\(snapshot.metadata.confState.learners)")
            try? storage.applySnapshot(snapshot)
        }
        if !ready.entries.isEmpty {
            lines.append("  Entries:")
            lines += ready.entries.map { "  " + describe($0) }
        }
        storage.append(ready.entries)
        if let hardState = ready.hardState { storage.setHardState(hardState) }
        if !ready.committedEntries.isEmpty {
            lines.append("  CommittedEntries:")
            lines += ready.committedEntries.map { "  " + describe($0) }
        }
        for entry in ready.committedEntries {
            if entry.type == .confChange, let change = ConfChange(decoding: entry.data) {
                let confState = node.applyConfChange(change)
                lines.append("  ConfState Voters:\(confState.voters) Learners:\(confState.learners)")
            } else if !entry.data.isEmpty {
                applied[id, default: []].append(String(decoding: entry.data, as: UTF8.self))
            }
        }
        for readState in ready.readStates {
            lines.append("  ReadState Index:\(readState.index) Context:\(String(decoding: readState.requestContext, as: UTF8.self))")
        }
        if !ready.messages.isEmpty {
            lines.append("  Messages:")
            lines += ready.messages.map { "  " + describe($0) }
        }
        mailbox.append(contentsOf: ready.messages)
        node.advance(ready)
        return lines.joined(separator: "\n")
    }

    private func deliver(to id: UInt64) -> String {
        let due = mailbox.filter { $0.to == id }
        mailbox.removeAll { $0.to == id }
        var lines: [String] = []
        for message in due {
            if isolated.contains(message.from) || isolated.contains(message.to) {
                lines.append("dropped: " + describe(message))
                continue
            }
            lines.append(describe(message))
            do {
                try nodes[id]!.step(message)
            } catch {
                lines.append("  error: \(error)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Processes Readys and delivers messages until nothing is left.
    private func stabilize() -> String {
        var output: [String] = []
        while true {
            var progressed = false
            for id in ids where nodes[id]!.hasReady {
                output.append(processReady(id))
                progressed = true
            }
            for id in ids where mailbox.contains(where: { $0.to == id }) {
                output.append("> \(id) receiving messages")
                output.append(contentsOf: deliver(to: id).split(separator: "\n").map { "  " + $0 })
                progressed = true
            }
            if !progressed { break }
        }
        return output.joined(separator: "\n")
    }

    private func describe(_ entry: Entry) -> String {
        let kind = entry.type == .confChange ? "EntryConfChange" : "EntryNormal"
        var payload = String(decoding: entry.data, as: UTF8.self)
        if entry.type == .confChange, let change = ConfChange(decoding: entry.data) {
            payload = "\(change.type) \(change.nodeID)"
        }
        return "\(entry.term)/\(entry.index) \(kind) \"\(payload)\""
    }

    private func describe(_ message: Message) -> String {
        var text = "\(message.from)->\(message.to) \(message.type) Term:\(message.term)"
        switch message.type {
        case .append, .appendResponse, .vote, .preVote, .voteResponse, .preVoteResponse:
            text += " Log:\(message.logTerm)/\(message.index)"
        default:
            break
        }
        if message.commit > 0 { text += " Commit:\(message.commit)" }
        if message.reject { text += " Rejected (Hint: \(message.rejectHint))" }
        if !message.entries.isEmpty { text += " Entries:[" + message.entries.map(describe).joined(separator: ", ") + "]" }
        if let snapshot = message.snapshot { text += " Snapshot: Index:\(snapshot.metadata.index) Term:\(snapshot.metadata.term)" }
        if !message.context.isEmpty { text += " Context:\(String(decoding: message.context, as: UTF8.self))" }
        return text
    }
}
