import Synchronization

/// Totals shared by the bench clients, read once a second for the progress line.
final class BenchCounters: Sendable {
    /// Completed operations (reads and writes, including 404 reads).
    let operations = Atomic<Int>(0)
    /// Failed operations.
    let errors = Atomic<Int>(0)

    /// Creates zeroed counters.
    init() {}
}
