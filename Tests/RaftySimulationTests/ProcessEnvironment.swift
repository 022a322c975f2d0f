#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads environment variables without Foundation.
struct ProcessEnvironment: Sendable {
    func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

extension ProcessEnvironment {
    /// The seeds a randomized suite runs for one cluster size: `base * 1000 + nodeCount` for bases
    /// 1...N (N from the variable `many`, else `ciDefault`), or the single seed in `single` if it
    /// belongs to this size (the number a failure prints).
    func seeds(single: String, many: String, ciDefault: Int, nodeCount: Int) -> [UInt64] {
        if let seed = self.value(single).flatMap(UInt64.init) {
            return seed % 1000 == UInt64(nodeCount) ? [seed] : []
        }
        let count = self.value(many).flatMap(Int.init) ?? ciDefault
        return (1...UInt64(max(count, 1))).map { $0 * 1000 + UInt64(nodeCount) }
    }
}
