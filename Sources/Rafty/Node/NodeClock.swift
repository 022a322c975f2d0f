/// A node's time source: the instant now, and sleeping. Every timer of the runtime (ticks, and with
/// them elections, heartbeats and leases) is measured by it.
///
/// The default, ``SystemNodeClock``, is the system's monotonic clock, which keeps running while a
/// process is paused or starved: time that passes then counts. Tests inject a clock to pause a
/// node's timers the way `SIGSTOP` pauses a process.
public protocol NodeClock: Sendable {
    /// The current instant.
    var now: ContinuousClock.Instant { get }
    /// Suspends the calling task for `duration`.
    func sleep(for duration: Duration) async throws
}

/// The system's monotonic clock (`ContinuousClock`).
public struct SystemNodeClock: NodeClock {
    /// Creates the clock.
    public init() {}
    /// See ``NodeClock``.
    public var now: ContinuousClock.Instant { ContinuousClock.now }
    /// See ``NodeClock``.
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
