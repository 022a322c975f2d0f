/// What `rafty bench` runs: who sends what, for how long.
struct BenchWorkload: Sendable, Equatable {
    /// Endpoints; client `i` sends to `endpoints[i % endpoints.count]`.
    var endpoints: [String]
    /// Concurrent clients.
    var clients: Int
    /// How long clients start new operations.
    var duration: Duration
    /// Bytes per written value.
    var valueSize: Int
    /// Number of distinct keys.
    var keys: Int
    /// Probability that an operation is a read.
    var readRatio: Double
    /// Read consistency (nil: the server's default).
    var consistency: Consistency?

    /// The endpoint of client `index`.
    func endpoint(ofClient index: Int) -> String {
        self.endpoints[index % self.endpoints.count]
    }

    /// The name of key number `number`.
    static func key(_ number: Int) -> String { "bench-\(number)" }
}
