import EtcdClient
import EtcdProto
import Foundation

/// `etcdctl member ...`, `endpoint ...`, `alarm ...`, `defrag`, `move-leader`.
enum ClusterCommands {
    static func memberList(_ invocation: Invocation) async throws {
        try invocation.display.memberList(try await invocation.client().memberList())
    }

    static func memberAdd(_ invocation: Invocation) async throws {
        let arguments = invocation.arguments
        guard let name = arguments.first else { throw CommandError.badArguments("member name not provided") }
        guard arguments.count == 1 else {
            var message = "too many arguments"
            for argument in arguments where argument.lowercased().hasPrefix("http") {
                message += ", did you mean --peer-urls=\(argument)"
            }
            throw CommandError.badArguments(message)
        }
        let peerURLs = invocation.flags["peer-urls"]
        guard !peerURLs.isEmpty else { throw CommandError.badArguments("member peer urls not provided") }
        let response = try await invocation.client().memberAdd(
            peerURLs: peerURLs.split(separator: ",").map(String.init), isLearner: invocation.flags.bool("learner"))
        try invocation.display.memberChanged(
            "added to", id: response.member.id, header: response.header, added: response.member,
            members: response.members, response: response)
        if invocation.display.format == .simple {
            let cluster = response.members.flatMap { member in
                member.peerUrls.map { "\(member.id == response.member.id ? name : member.name)=\($0)" }
            }
            print("")
            print("ETCD_NAME=\(goQuote(name))")
            print("ETCD_INITIAL_CLUSTER=\(goQuote(cluster.joined(separator: ",")))")
            print("ETCD_INITIAL_ADVERTISE_PEER_URLS=\(goQuote(peerURLs))")
            print("ETCD_INITIAL_CLUSTER_STATE=\"existing\"")
        }
    }

    static func memberRemove(_ invocation: Invocation) async throws {
        let id = try memberID(invocation)
        let response = try await invocation.client().memberRemove(id: id)
        try invocation.display.memberChanged(
            "removed from", id: id, header: response.header, members: response.members, response: response)
    }

    static func memberUpdate(_ invocation: Invocation) async throws {
        let id = try memberID(invocation)
        let peerURLs = invocation.flags["peer-urls"]
        guard !peerURLs.isEmpty else { throw CommandError.badArguments("member peer urls not provided") }
        let response = try await invocation.client().memberUpdate(id: id, peerURLs: peerURLs.split(separator: ",").map(String.init))
        try invocation.display.memberChanged(
            "updated in", id: id, header: response.header, members: response.members, response: response)
    }

    static func memberPromote(_ invocation: Invocation) async throws {
        let id = try memberID(invocation)
        let response = try await invocation.client().memberPromote(id: id)
        try invocation.display.memberChanged(
            "promoted in", id: id, header: response.header, members: response.members, response: response)
    }

    private static func memberID(_ invocation: Invocation) throws(CommandError) -> UInt64 {
        guard let text = invocation.arguments.first else { throw .badArguments("member ID is not provided") }
        guard let id = UInt64(text, radix: 16) else {
            throw .badArguments("bad member ID arg (strconv.ParseUint: parsing \(goQuote(text)): invalid syntax), expecting ID in Hex")
        }
        return id
    }

    // MARK: Endpoints

    /// The endpoints a per-member command visits: `--endpoints`, or with `--cluster` every member's
    /// client URLs.
    private static func targetEndpoints(_ invocation: Invocation) async throws -> [String] {
        guard invocation.flags.bool("cluster") else { return invocation.endpoints }
        let members = try await invocation.client().memberList().members
        return members.flatMap(\.clientUrls)
    }

    static func health(_ invocation: Invocation) async throws {
        let endpoints = try await targetEndpoints(invocation)
        var results: [Display.EndpointHealth] = []
        for endpoint in endpoints {
            let client = try invocation.client(endpoints: [endpoint])
            let start = ContinuousClock.now
            var problem = ""
            do {
                _ = try await client.get("health")
            } catch let etcdError as EtcdError where etcdError.code == .permissionDenied {
                // A cluster with auth on answers, so it is healthy.
            } catch {
                problem = failure(error).message
            }
            let took = ContinuousClock.now - start
            results.append(.init(endpoint: endpoint, healthy: problem.isEmpty, took: goDuration(took), error: problem))
            await client.close()
        }
        try invocation.display.endpointHealth(results)
        if results.contains(where: { !$0.healthy }) { throw CommandError.failed("unhealthy cluster") }
    }

    static func status(_ invocation: Invocation) async throws {
        let endpoints = try await targetEndpoints(invocation)
        let client = try invocation.client(endpoints: endpoints)
        var results: [(endpoint: String, status: Etcdserverpb_StatusResponse)] = []
        for (index, endpoint) in endpoints.enumerated() {
            do {
                results.append((endpoint, try await client.status(endpoint: index)))
            } catch {
                invocation.display.err("Failed to get the status of endpoint \(endpoint) (\(failure(error).message))")
            }
        }
        await client.close()
        try invocation.display.endpointStatus(results)
        if results.count < endpoints.count { throw CommandError.failed("context deadline exceeded") }
    }

    static func hashKV(_ invocation: Invocation) async throws {
        let endpoints = try await targetEndpoints(invocation)
        let client = try invocation.client(endpoints: endpoints)
        let revision = Int64(invocation.flags["rev"]) ?? 0
        var results: [(endpoint: String, hash: Etcdserverpb_HashKVResponse)] = []
        for (index, endpoint) in endpoints.enumerated() {
            do {
                results.append((endpoint, try await client.hashKV(endpoint: index, revision: revision)))
            } catch {
                invocation.display.err("Failed to get the hash of endpoint \(endpoint) (\(failure(error).message))")
            }
        }
        await client.close()
        try invocation.display.endpointHashKV(results)
        if results.count < endpoints.count { throw CommandError.failed("context deadline exceeded") }
    }

    // MARK: Maintenance

    static func alarmList(_ invocation: Invocation) async throws {
        try invocation.display.alarm(try await invocation.client().alarm(.with { $0.action = .get }))
    }

    static func alarmDisarm(_ invocation: Invocation) async throws {
        let client = try invocation.client()
        let alarms = try await client.alarm(.with { $0.action = .get }).alarms
        var last = Etcdserverpb_AlarmResponse()
        for alarm in alarms {
            last = try await client.alarm(.with { $0.action = .deactivate; $0.memberID = alarm.memberID; $0.alarm = alarm.alarm })
        }
        if alarms.isEmpty { last = try await client.alarm(.with { $0.action = .get }) }
        try invocation.display.alarm(last)
    }

    static func defrag(_ invocation: Invocation) async throws {
        guard invocation.flags["data-dir"].isEmpty else {
            throw CommandError.badFeature("defrag --data-dir is not supported: defragment through a running member")
        }
        let endpoints = try await targetEndpoints(invocation)
        let client = try invocation.client(endpoints: endpoints)
        var failed = false
        for (index, endpoint) in endpoints.enumerated() {
            do {
                try await client.defragment(endpoint: index)
                print("Finished defragmenting etcd member[\(endpoint)]")
            } catch {
                invocation.display.err("Failed to defragment etcd member[\(endpoint)] (\(failure(error).message))")
                failed = true
            }
        }
        await client.close()
        if failed { throw CommandError.failed("defragment failed") }
    }

    static func moveLeader(_ invocation: Invocation) async throws {
        guard let text = invocation.arguments.first else { throw CommandError.badArguments("move-leader command needs 1 argument") }
        guard let target = UInt64(text, radix: 16) else {
            throw CommandError.badArguments("strconv.ParseUint: parsing \(goQuote(text)): invalid syntax")
        }
        let client = try invocation.client()
        var leaderIndex: Int?
        var leaderID: UInt64 = 0
        for index in client.endpoints.indices {
            if let status = try? await client.status(endpoint: index), status.leader == status.header.memberID {
                leaderIndex = index
                leaderID = status.leader
                break
            }
        }
        guard let leaderIndex else { throw CommandError.failed("no leader endpoint given at [\(invocation.endpoints.joined(separator: " "))]") }
        try await client.moveLeader(endpoint: leaderIndex, targetID: target)
        try invocation.display.moveLeader(from: leaderID, to: target)
    }
}

/// Go's `time.Duration.String()`, as etcdctl prints `took`.
func goDuration(_ duration: Duration) -> String {
    let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    if nanoseconds < 1000 { return "\(nanoseconds)ns" }
    func trimmed(_ value: Double) -> String {
        var text = String(format: "%.9f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
    if nanoseconds < 1_000_000 { return trimmed(Double(nanoseconds) / 1e3) + "µs" }
    if nanoseconds < 1_000_000_000 { return trimmed(Double(nanoseconds) / 1e6) + "ms" }
    return trimmed(Double(nanoseconds) / 1e9) + "s"
}
