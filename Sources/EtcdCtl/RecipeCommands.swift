import EtcdClient
import Foundation

/// `etcdctl lock` and `etcdctl elect`, over EtcdClient's recipes (same keys as clientv3's).
enum RecipeCommands {
    static func lock(_ invocation: Invocation) async throws {
        guard let name = invocation.arguments.first else { throw CommandError.badArguments("lock takes a lock name argument and an optional command to execute") }
        let client = try invocation.client()
        let session = try await EtcdSession(client: client, ttl: Int64(invocation.flags["ttl"]) ?? 10)
        let mutex = EtcdMutex(session: session, name: name)
        try await mutex.lock()
        let command = Array(invocation.arguments.dropFirst())
        if command.isEmpty {
            print(mutex.key)
            flushStandardOutput()
            // Held until interrupted; the lease then expires or SIGINT's default ends the process.
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        var environment = ProcessInfo.processInfo.environment
        environment["ETCD_LOCK_KEY"] = mutex.key
        environment["ETCD_LOCK_REV"] = ""
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        try await mutex.unlock()
        try await session.close()
        if process.terminationStatus != 0 { throw CommandError.failed("exit status \(process.terminationStatus)") }
    }

    static func elect(_ invocation: Invocation) async throws {
        let arguments = invocation.arguments
        let listen = invocation.flags.bool("listen")
        guard arguments.count == (listen ? 1 : 2) else {
            throw CommandError.badArguments("elect takes one election name argument and one proposal argument.")
        }
        let client = try invocation.client()
        let session = try await EtcdSession(client: client, ttl: 60)
        let election = EtcdElection(session: session, name: arguments[0])
        if listen {
            var lastLeader: Data?
            while true {
                if let leader = try await election.leader(), leader.key != lastLeader {
                    print(String(decoding: leader.key, as: UTF8.self))
                    print(String(decoding: leader.value, as: UTF8.self))
                    flushStandardOutput()
                    lastLeader = leader.key
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        try await election.campaign(arguments[1])
        print(election.key)
        print(arguments[1])
        flushStandardOutput()
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
