import Foundation
import Synchronization

/// Network namespaces of our own, one per cluster member, joined by a bridge in the test's
/// namespace: the links between members can then be cut (partitions) and throttled (slow and
/// lossy under load), while the test's clients still reach every member.
///
/// Member `i` gets address `10.213.<subnet>.<i + 2>` in namespace `<tag>n<i>`; the bridge holds
/// `10.213.<subnet>.1` for the test process. A partition is a pair of blackhole routes per cut
/// link (no iptables needed): a member's packets to a member across the cut are dropped at the
/// sender, in both directions, so TCP connections across it stall and new ones fail.
///
/// Needs root and `ip`/`tc` (iproute2). Everything is created fresh, with names no other test
/// uses, and removed by `destroy()`.
public final class NetworkLab: Sendable {
    /// Members the lab has room for.
    public let size: Int
    private let tag: String
    private let subnet: Int
    /// The dropped directions, each as [from, to].
    private let cuts = Mutex<Set<[Int]>>([])
    /// Whether `throttle` works here, once tried.
    private let throttleWorks = Mutex<Bool?>(nil)

    private static let counter = Atomic<Int>(0)

    /// Whether this process can make namespaces: root, iproute2 installed, and a container that
    /// lets it (tried once, with a namespace made and removed).
    public static let isAvailable: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
              FileManager.default.isExecutableFile(atPath: "/usr/sbin/tc")
        else { return false }
        let probe = "efprobe\(getpid())"
        guard (try? runProcess("/usr/sbin/ip", ["netns", "add", probe]))?.exitCode == 0 else { return false }
        _ = try? runProcess("/usr/sbin/ip", ["netns", "del", probe])
        return true
    }()

    /// Creates the bridge and `size` namespaces, each with a link to the bridge and loopback up.
    public init(size: Int) throws {
        let serial = Self.counter.add(1, ordering: .relaxed).newValue
        let pid = Int(getpid())
        self.size = size
        tag = "ef\(pid % 10_000)x\(serial % 100)"
        subnet = (pid &* 7 &+ serial) % 250 + 1
        do {
            try ip(["link", "add", bridge, "type", "bridge"])
            try ip(["addr", "add", "\(hostAddress)/24", "dev", bridge])
            try ip(["link", "set", bridge, "up"])
            for index in 0..<size {
                let outer = "\(tag)v\(index)", inner = interface(index)
                try ip(["netns", "add", namespace(index)])
                try ip(["link", "add", outer, "type", "veth", "peer", "name", inner])
                try ip(["link", "set", inner, "netns", namespace(index)])
                try ip(["link", "set", outer, "master", bridge])
                try ip(["link", "set", outer, "up"])
                try inside(index, ["addr", "add", "\(address(index))/24", "dev", inner])
                try inside(index, ["link", "set", inner, "up"])
                try inside(index, ["link", "set", "lo", "up"])
            }
        } catch {
            destroy()
            throw error
        }
    }

    private var bridge: String { "\(tag)br" }

    /// The namespace of member `index`.
    public func namespace(_ index: Int) -> String { "\(tag)n\(index)" }

    /// The address of member `index`.
    public func address(_ index: Int) -> String { "10.213.\(subnet).\(index + 2)" }

    /// The test process's address on the bridge.
    public var hostAddress: String { "10.213.\(subnet).1" }

    /// Member `index`'s interface to the bridge (inside its namespace).
    private func interface(_ index: Int) -> String { "\(tag)i\(index)" }

    /// Cuts every link between members of different groups, after healing earlier cuts. Members
    /// in no group keep all their links.
    public func partition(_ groups: [[Int]]) throws {
        try heal()
        var group: [Int: Int] = [:]
        for (number, members) in groups.enumerated() { for member in members { group[member] = number } }
        for a in 0..<size {
            for b in 0..<size where a < b {
                guard let groupA = group[a], let groupB = group[b], groupA != groupB else { continue }
                try cut(a, b)
            }
        }
    }

    /// Cuts the links from `isolated` to every other member.
    public func isolate(_ isolated: Int) throws {
        try partition([[isolated], (0..<size).filter { $0 != isolated }])
    }

    /// Cuts the link between `a` and `b`, both ways.
    public func cut(_ a: Int, _ b: Int) throws {
        try drop(from: a, to: b)
        try drop(from: b, to: a)
    }

    /// Drops what `from` sends to `to`, one way only. (Over TCP the other way soon stalls too, for
    /// want of acknowledgements, but its data keeps arriving until then: an asymmetric link.)
    public func drop(from: Int, to: Int) throws {
        try inside(from, ["route", "add", "blackhole", "\(address(to))/32"])
        _ = cuts.withLock { $0.insert([from, to]) }
    }

    /// Restores every cut link.
    public func heal() throws {
        for link in cuts.withLock({ cuts in defer { cuts = [] }; return cuts }) {
            try inside(link[0], ["route", "del", "blackhole", "\(address(link[1]))/32"])
        }
    }

    /// Limits what member `index` sends, to anyone, to `kilobitsPerSecond`; a packet that would
    /// wait longer than `maximumDelayMilliseconds` in the queue is dropped. A slow, lossy link
    /// under load. (A token bucket, `tc tbf`: the kernels we run on may lack `netem`.)
    public func throttle(_ index: Int, kilobitsPerSecond: Int, maximumDelayMilliseconds: Int) throws {
        try run("/usr/sbin/ip", ["netns", "exec", namespace(index), "/usr/sbin/tc", "qdisc", "replace", "dev",
                                 interface(index), "root", "tbf", "rate", "\(kilobitsPerSecond)kbit",
                                 "burst", "4kb", "latency", "\(maximumDelayMilliseconds)ms"])
    }

    /// Whether this kernel has the token-bucket qdisc that `throttle` uses (tried on the first ask).
    public var canThrottle: Bool {
        throttleWorks.withLock { works in
            if let works { return works }
            let tried = (try? throttle(0, kilobitsPerSecond: 1000, maximumDelayMilliseconds: 100)) != nil
            if tried { try? unthrottle(0) }
            works = tried
            return tried
        }
    }

    /// Removes member `index`'s throttle.
    public func unthrottle(_ index: Int) throws {
        try run("/usr/sbin/ip", ["netns", "exec", namespace(index), "/usr/sbin/tc", "qdisc", "del", "dev",
                                 interface(index), "root"])
    }

    /// Removes the namespaces (and their links) and the bridge; safe to call twice.
    public func destroy() {
        for index in 0..<size {
            _ = try? runProcess("/usr/sbin/ip", ["netns", "del", namespace(index)])
            _ = try? runProcess("/usr/sbin/ip", ["link", "del", "\(tag)v\(index)"])
        }
        _ = try? runProcess("/usr/sbin/ip", ["link", "del", bridge])
    }

    private func ip(_ arguments: [String]) throws { try run("/usr/sbin/ip", arguments) }

    private func inside(_ index: Int, _ arguments: [String]) throws {
        try run("/usr/sbin/ip", ["-n", namespace(index)] + arguments)
    }

    private func run(_ executable: String, _ arguments: [String]) throws {
        let result = try runProcess(executable, arguments)
        guard result.exitCode == 0 else {
            throw TestSupportError.commandFailed("\(executable) \(arguments.joined(separator: " ")): \(result.stderr)")
        }
    }
}
