internal import Logging
private import Synchronization

/// Logs each kind of event at most once per interval (a misbehaving peer must not flood the log).
final class RateLimitedLogger: Sendable {
    private let logger: Logger
    private let interval: Duration
    private let last = Mutex<[String: ContinuousClock.Instant]>([:])

    init(_ logger: Logger, interval: Duration = .seconds(60)) {
        self.logger = logger
        self.interval = interval
    }

    /// Logs `message` at warning unless an event of this `kind` was logged within the interval.
    func warning(_ kind: String, _ message: @autoclosure () -> Logger.Message) {
        let now = ContinuousClock.now
        let due = self.last.withLock { last in
            if let previous = last[kind], now - previous < self.interval { return false }
            last[kind] = now
            return true
        }
        if due { self.logger.warning(message()) }
    }
}
