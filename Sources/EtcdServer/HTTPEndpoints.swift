import Foundation

/// The HTTP endpoints of the client port: `/health`, `/version`, `/metrics`, with etcd's bodies.
struct HTTPEndpoints {
    let core: ServerCore

    func answer(method: String, target: String) async -> HTTPAnswer {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        switch path {
        case "/health": return await health(method: method, target: target)
        case "/version":
            guard method == "GET" else { return Self.methodNotAllowed("GET") }
            return HTTPAnswer(status: 200, reason: "OK", contentType: "application/json",
                              body: "{\"etcdserver\":\"\(ServerCore.serverVersion)\",\"etcdcluster\":\"\(ServerCore.clusterVersion)\"}")
        case "/metrics":
            return HTTPAnswer(status: 200, reason: "OK", contentType: "text/plain; version=0.0.4; charset=utf-8",
                              body: core.metrics.render(gauges()))
        default:
            return HTTPAnswer(status: 404, reason: "Not Found", contentType: "text/plain; charset=utf-8",
                              body: "404 page not found\n")
        }
    }

    /// etcd's check: no alarm (except those the caller excludes), a leader, and a linearizable
    /// read within a second.
    private func health(method: String, target: String) async -> HTTPAnswer {
        guard method == "GET" else { return Self.methodNotAllowed("GET") }
        let excluded = Set((URLComponents(string: target)?.queryItems ?? []).filter { $0.name == "exclude" }.compactMap(\.value))
        var healthy = !core.alarms.all.contains { !excluded.contains(MaintenanceService.alarmName($0.alarm)) }
        if healthy && core.driver.raftStatus.leader == 0 { healthy = false }
        if healthy {
            healthy = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await core.readView(serializable: false)) != nil }
                group.addTask {
                    try? await Task.sleep(for: .seconds(1))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
        if healthy {
            core.metrics.healthSuccesses.add(1, ordering: .relaxed)
            return HTTPAnswer(status: 200, reason: "OK", contentType: "text/plain; charset=utf-8",
                              body: "{\"health\":\"true\"}")
        }
        core.metrics.healthFailures.add(1, ordering: .relaxed)
        return HTTPAnswer(status: 503, reason: "Service Unavailable", contentType: "text/plain; charset=utf-8",
                          body: "{\"health\":\"false\"}\n")
    }

    private static func methodNotAllowed(_ allowed: String) -> HTTPAnswer {
        var answer = HTTPAnswer(status: 405, reason: "Method Not Allowed", contentType: "text/plain; charset=utf-8",
                                body: "Method Not Allowed\n")
        answer.extraHeaders = [("Allow", allowed)]
        return answer
    }

    private func gauges() -> ServerMetrics.Gauges {
        let raft = core.driver.raftStatus
        let view = core.readViews.current()
        return ServerMetrics.Gauges(
            hasLeader: raft.leader != 0, isLeader: raft.isLeader, leaderChanges: raft.leaderChanges,
            committedIndex: raft.commitIndex, appliedIndex: raft.appliedIndex, term: raft.term,
            dbSize: core.databaseSize, dbSizeInUse: view.historyBytes, keys: Int64(view.keyCount),
            watchers: core.watchHub.watcherCounts.total, leases: core.lessor.count,
            serverVersion: ServerCore.serverVersion, clusterVersion: ServerCore.clusterVersion)
    }
}
