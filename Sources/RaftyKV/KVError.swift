public import Rafty

/// An error from RaftyKV: bad input, an undecodable message or snapshot, or the cluster's
/// `RaftError`.
public struct KVError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case invalidKey, keyTooLarge, valueTooLarge, malformed, corruptSnapshot, cluster
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The key is empty; nothing was proposed.
        public static let invalidKey = Code(.invalidKey)
        /// The key is longer than ``KVLimits/maxKeyBytes``; nothing was proposed.
        public static let keyTooLarge = Code(.keyTooLarge)
        /// The value is longer than ``KVLimits/maxValueBytes``; nothing was proposed.
        public static let valueTooLarge = Code(.valueTooLarge)
        /// A command, result or query could not be decoded (wrong version or framing).
        public static let malformed = Code(.malformed)
        /// A snapshot is truncated or corrupt; the store kept its previous state.
        public static let corruptSnapshot = Code(.corruptSnapshot)
        /// The cluster refused or could not complete the request: see ``KVError/raftError``.
        public static let cluster = Code(.cluster)

        /// The code's name.
        public var description: String { "\(self.value)" }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation (never contains keys or values).
    public var message: String
    /// The runtime's error, for ``Code/cluster``.
    public var raftError: RaftError?

    /// Creates an error.
    public init(_ code: Code, _ message: String, raftError: RaftError? = nil) {
        self.code = code
        self.message = message
        self.raftError = raftError
    }

    /// Wraps a runtime error.
    public init(_ raftError: RaftError) {
        self.init(.cluster, raftError.message, raftError: raftError)
    }

    /// `code: message` (the runtime's code for cluster errors).
    public var description: String {
        if let raftError { return "\(raftError.code): \(self.message)" }
        return "\(self.code): \(self.message)"
    }
}
