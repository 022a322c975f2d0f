/// An error from a storage implementation: what went wrong, where (path and, for corruption, the
/// byte offset), and the system error behind it.
public struct StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case io, corrupted, unsupportedVersion, nonContiguous, outOfRange, compacted, locked, invalidArgument
            case closed, notFound
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A system call failed (see ``StorageError/errno``).
        public static let io = Code(.io)
        /// Stored data failed its checks somewhere other than the torn tail; nothing was deleted.
        public static let corrupted = Code(.corrupted)
        /// The data was written by a format version this build does not understand.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// An append does not start right after the last stored index.
        public static let nonContiguous = Code(.nonContiguous)
        /// An index beyond the stored log was asked for.
        public static let outOfRange = Code(.outOfRange)
        /// An index at or before the compaction point was asked for.
        public static let compacted = Code(.compacted)
        /// Another process (or another store in this one) holds the data directory.
        public static let locked = Code(.locked)
        /// An argument makes no sense.
        public static let invalidArgument = Code(.invalidArgument)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The requested item does not exist.
        public static let notFound = Code(.notFound)

        /// The code's name.
        public var description: String { "\(self.value)" }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The file or directory concerned, if any.
    public var path: String?
    /// For corruption: the byte offset in `path` where the bad data starts.
    public var offset: Int?
    /// The `errno` of a failed system call.
    public var errno: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
    }

    /// `code: message (path at offset, errno)`.
    public var description: String {
        var text = "\(self.code): \(self.message)"
        var details: [String] = []
        if let path { details.append(self.offset.map { "\(path) at offset \($0)" } ?? path) }
        if let errno { details.append("errno \(errno)") }
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }
        return text
    }
}
