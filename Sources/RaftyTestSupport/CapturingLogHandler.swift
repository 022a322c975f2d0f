public import Logging
private import Synchronization

/// A log handler that keeps every message, for tests that check what an operator would see.
public struct CapturingLogHandler: LogHandler {
    /// The captured lines, shared by every copy of the handler.
    public final class Store: Sendable {
        private let lines = Mutex<[(level: Logger.Level, message: String)]>([])
        public init() {}
        /// Every line logged so far.
        public var entries: [(level: Logger.Level, message: String)] { self.lines.withLock { $0 } }
        /// Whether a line at `level` contains `text`.
        public func contains(_ text: String, level: Logger.Level? = nil) -> Bool {
            self.entries.contains { ($0.level == level || level == nil) && $0.message.contains(text) }
        }
        func append(_ level: Logger.Level, _ message: String) { self.lines.withLock { $0.append((level, message)) } }
    }

    let store: Store
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    /// A logger writing into `store`.
    public static func logger(_ store: Store, label: String = "test") -> Logger {
        Logger(label: label) { _ in CapturingLogHandler(store: store) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let suffix = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        self.store.append(event.level, "\(event.message)\(suffix)")
    }
}
