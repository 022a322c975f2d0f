#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Loopback TCP ports for tests that start servers on fixed ports (gRPC nodes, `rafty serve`
/// processes). Suites run in parallel in one process: a port is handed out at most once per
/// process, so two clusters never get the same one.
public enum LoopbackPorts {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port that was free a moment ago (bound to port 0, then released) and that this process
    /// has not handed out before.
    public static func next() -> Int {
        while true {
            let port = Self.ephemeralPort()
            if Self.handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    private static func ephemeralPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket() failed")
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        precondition(bound, "cannot bind a loopback port")
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
