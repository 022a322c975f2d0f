internal import Foundation
internal import Histogram

/// The result of `rafty bench`: counts, throughput and latency percentiles.
///
/// Encoded as the `--json` object; ``table()`` renders the same numbers for people.
struct BenchReport: Codable, Equatable, Sendable {
    /// Latency percentiles in milliseconds.
    struct Latency: Codable, Equatable, Sendable {
        /// Median.
        var p50: Double
        /// 90th percentile.
        var p90: Double
        /// 99th percentile.
        var p99: Double
        /// 99.9th percentile.
        var p999: Double
        /// Largest latency recorded.
        var max: Double
    }

    /// Completed operations (reads, a 404 included, and writes).
    var operations: UInt64
    /// Completed reads.
    var reads: UInt64
    /// Completed writes.
    var writes: UInt64
    /// Failed operations.
    var errors: UInt64
    /// Failed operations by kind (`http 503`, `connection failure`, `timeout`, ...).
    var errorsByKind: [String: UInt64]
    /// Wall time of the run in seconds.
    var durationSeconds: Double
    /// Completed operations per second.
    var throughput: Double
    /// Latency of completed operations.
    var latencyMilliseconds: Latency
    /// Concurrent clients.
    var clients: Int
    /// Bytes per written value.
    var valueSize: Int
    /// Distinct keys.
    var keys: Int
    /// Fraction of reads asked for.
    var readRatio: Double
    /// Read consistency asked for (nil: server default).
    var consistency: Consistency?
    /// Endpoints used.
    var endpoints: [String]

    /// Builds the report from merged client results.
    init(result: BenchClientResult, elapsed: Duration, workload: BenchWorkload) {
        let seconds = Self.seconds(elapsed)
        self.operations = result.reads + result.writes
        self.reads = result.reads
        self.writes = result.writes
        self.errorsByKind = result.errors
        self.errors = result.errors.values.reduce(0, +)
        self.durationSeconds = seconds
        self.throughput = seconds > 0 ? Double(self.operations) / seconds : 0
        self.latencyMilliseconds = Self.latency(of: result.latencies)
        self.clients = workload.clients
        self.valueSize = workload.valueSize
        self.keys = workload.keys
        self.readRatio = workload.readRatio
        self.consistency = workload.consistency
        self.endpoints = workload.endpoints
    }

    /// The percentiles of a histogram of microseconds, in milliseconds (all 0 when it is empty).
    static func latency(of histogram: Histogram<UInt64>) -> Latency {
        guard histogram.totalCount > 0 else { return Latency(p50: 0, p90: 0, p99: 0, p999: 0, max: 0) }
        func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        return Latency(
            p50: milliseconds(histogram.valueAtPercentile(50)),
            p90: milliseconds(histogram.valueAtPercentile(90)),
            p99: milliseconds(histogram.valueAtPercentile(99)),
            p999: milliseconds(histogram.valueAtPercentile(99.9)),
            max: milliseconds(histogram.max)
        )
    }

    /// The report as a two-column table (milliseconds with two decimals).
    func table() -> String {
        var rows: [[String]] = [
            ["operations", "\(self.operations) (\(self.reads) reads, \(self.writes) writes)"],
            ["duration", Decimal2.format(self.durationSeconds) + " s"],
            ["throughput", Decimal2.format(self.throughput) + " ops/s"],
            ["p50", Decimal2.format(self.latencyMilliseconds.p50) + " ms"],
            ["p90", Decimal2.format(self.latencyMilliseconds.p90) + " ms"],
            ["p99", Decimal2.format(self.latencyMilliseconds.p99) + " ms"],
            ["p99.9", Decimal2.format(self.latencyMilliseconds.p999) + " ms"],
            ["max", Decimal2.format(self.latencyMilliseconds.max) + " ms"],
            ["errors", "\(self.errors)"],
        ]
        for kind in self.errorsByKind.keys.sorted() {
            rows.append(["  " + kind, "\(self.errorsByKind[kind] ?? 0)"])
        }
        return TextTable.render(header: ["METRIC", "VALUE"], rows: rows)
    }

    /// The report as one line of JSON with sorted keys.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The progress line printed every second: elapsed, total operations, current rate, errors.
    static func progressLine(elapsed: Duration, operations: Int, rate: Double, errors: Int) -> String {
        "[\(Decimal2.format(Self.seconds(elapsed)))s] ops \(operations)  ops/s \(Int(rate.rounded()))  errors \(errors)"
    }

    /// `duration` in seconds.
    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
