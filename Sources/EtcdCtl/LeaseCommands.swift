import EtcdClient
import Foundation

/// `etcdctl lease grant|revoke|timetolive|list|keep-alive`.
enum LeaseCommands {
    static func grant(_ invocation: Invocation) async throws {
        guard let text = invocation.arguments.first else { throw CommandError.badArguments("lease grant command needs TTL argument") }
        guard let ttl = Int64(text) else {
            throw CommandError.badArguments("bad TTL (strconv.ParseInt: parsing \(goQuote(text)): invalid syntax)")
        }
        do {
            try invocation.display.grant(try await invocation.client().grantLease(ttl: ttl))
        } catch let error as EtcdError {
            throw CommandError.failed("failed to grant lease (\(failure(error).message))")
        }
    }

    static func revoke(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else { throw CommandError.badArguments("lease revoke command needs 1 argument") }
        let id = try leaseID(invocation.arguments[0])
        do {
            try invocation.display.revoke(id, try await invocation.client().revokeLease(id))
        } catch let error as EtcdError {
            throw CommandError.failed("failed to revoke lease (\(failure(error).message))")
        }
    }

    static func timeToLive(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("lease timetolive command needs lease ID as argument")
        }
        let id = try leaseID(invocation.arguments[0])
        let keys = invocation.flags.bool("keys")
        try invocation.display.timeToLive(try await invocation.client().leaseTimeToLive(id, keys: keys), keys: keys)
    }

    static func list(_ invocation: Invocation) async throws {
        try invocation.display.leases(try await invocation.client().leases())
    }

    static func keepAlive(_ invocation: Invocation) async throws {
        guard invocation.arguments.count == 1 else {
            throw CommandError.badArguments("lease keep-alive command needs lease ID as argument")
        }
        let id = try leaseID(invocation.arguments[0])
        do {
            for try await response in try invocation.client().keepAlive(leaseID: id) {
                try invocation.display.keepAlive(response)
                if invocation.flags.bool("once") { return }
            }
        } catch let error as EtcdError where error.code == .leaseNotFound {
            if invocation.display.format == .simple { print("lease \(hex16(id)) expired or revoked.") }
        }
    }

    static func leaseID(_ text: String) throws(CommandError) -> Int64 {
        guard let id = UInt64(text, radix: 16) else {
            throw .badArguments("bad lease ID arg (strconv.ParseInt: parsing \(goQuote(text)): invalid syntax), expecting ID in Hex")
        }
        return Int64(bitPattern: id)
    }
}
