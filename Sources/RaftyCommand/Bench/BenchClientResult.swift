internal import Histogram

/// What one bench client measured; results of all clients are merged into one.
struct BenchClientResult: Sendable {
    /// Largest latency the histogram tracks, in microseconds (one hour); longer ones are clamped.
    static let highestTrackableMicroseconds: UInt64 = 3_600_000_000

    /// Latencies of completed operations, in microseconds.
    var latencies = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: BenchClientResult.highestTrackableMicroseconds,
        numberOfSignificantValueDigits: .three
    )
    /// Completed reads (404 included).
    var reads: UInt64 = 0
    /// Completed writes.
    var writes: UInt64 = 0
    /// Failures by kind: `http NNN`, `connection failure`, `timeout`, `connection closed`, `other`.
    var errors: [String: UInt64] = [:]

    /// Records one completed operation's latency.
    mutating func record(_ latency: Duration, isRead: Bool) {
        let (seconds, attoseconds) = latency.components
        let microseconds = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000_000
        self.latencies.record(min(max(1, microseconds), Self.highestTrackableMicroseconds))
        if isRead { self.reads += 1 } else { self.writes += 1 }
    }

    /// Counts one failure of `kind`.
    mutating func recordError(_ kind: String) {
        self.errors[kind, default: 0] += 1
    }

    /// Adds `other`'s counts and latencies to these.
    mutating func merge(_ other: BenchClientResult) {
        self.latencies.add(other.latencies)
        self.reads += other.reads
        self.writes += other.writes
        self.errors.merge(other.errors, uniquingKeysWith: +)
    }
}
