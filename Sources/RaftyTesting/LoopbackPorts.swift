import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback TCP ports for tests that start servers on fixed ports (gRPC nodes, `rafty serve`
/// processes). Suites run in parallel in one process: a port is handed out at most once per
/// process, so two clusters never get the same one.
package enum LoopbackPorts {
    /// Ports are handed out below the kernel's ephemeral range (`ip_local_port_range`): a port in
    /// that range can be taken by an outgoing `connect()` as its local port between the check and
    /// the server's bind ("Address already in use" when many processes start together).
    private static let range: Range<Int> = {
        var low = 32768
        if let file = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r") {
            var buffer = [CChar](repeating: 0, count: 64)
            if fgets(&buffer, Int32(buffer.count), file) != nil {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).first, let value = Int(first) { low = value }
            }
            fclose(file)
        }
        let upper = max(min(low, 32768), 12000)
        return (upper - 10000)..<upper
    }()
    /// The next candidate; starts at a random place so concurrent test processes rarely meet.
    private static let cursor = Mutex<Int>(Int.random(in: 0..<10000))

    /// A loopback port that was free a moment ago (bound, then released), below the ephemeral
    /// range, that this process has not handed out before.
    package static func next() -> Int {
        while true {
            let port = Self.cursor.withLock { cursor in
                defer { cursor = (cursor + 1) % Self.range.count }
                return Self.range.lowerBound + cursor
            }
            if Self.isFree(port) { return port }
        }
    }

    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket() failed")
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
        }
    }
}
