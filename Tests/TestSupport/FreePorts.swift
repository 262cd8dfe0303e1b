#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Loopback TCP ports that nothing listens on right now, below the kernel's ephemeral range.
///
/// Below that range because a member restarted on its old ports (as etcd's members are, on fixed
/// ports) must find them free: a port from the ephemeral range may meanwhile have become the
/// local end of some outgoing connection (a client reconnecting, a peer dialing), and the
/// restart would fail with "address in use". Each port is checked by binding it, and all sockets
/// of one call stay bound until every port is chosen, so one call never returns the same port
/// twice. Another process may still take a port before the caller binds it; callers that start
/// servers retry on "address in use".
public enum FreePorts {
    /// Returns `count` distinct free ports on 127.0.0.1.
    public static func allocate(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { _ = close($0) } }
        var ports: [Int] = []
        let candidates = portsBelowEphemeralRange()
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts < 10_000 else { throw TestSupportError.system("bind", EADDRINUSE) }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestSupportError.system("socket", errno) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(candidates.randomElement()!).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let error = errno
                _ = close(fd)
                if error == EADDRINUSE || error == EACCES { continue }
                throw TestSupportError.system("bind", error)
            }
            sockets.append(fd)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// From 10000 up to the first port the kernel hands out for outgoing connections
    /// (`ip_local_port_range`, 32768 by default on Linux).
    static func portsBelowEphemeralRange() -> Range<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
        return low > 12000 ? 10000..<low : 40000..<60000
    }
}
