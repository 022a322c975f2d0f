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
        if self.due(kind) { self.logger.warning(message()) }
    }

    /// Logs `message` at error unless an event of this `kind` was logged within the interval.
    func error(_ kind: String, _ message: @autoclosure () -> Logger.Message) {
        if self.due(kind) { self.logger.error(message()) }
    }

    private func due(_ kind: String) -> Bool {
        let now = ContinuousClock.now
        return self.last.withLock { last in
            if let previous = last[kind], now - previous < self.interval { return false }
            last[kind] = now
            return true
        }
    }
}
