public import RaftCore

/// An error from the node runtime's public API.
///
/// Two errors are equal when their code, message and leader are: the ``cause`` is not compared.
public struct RaftError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable, CaseIterable {
            case invalidConfiguration, notLeader, noLeader, timedOut, shuttingDown, alreadyRunning, storage
            case rejected, unreachable, membershipChangeInProgress, tooSlow, stateMachine, overloaded
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A configuration value is out of range; the message names the field and the range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The request needs the leader and this node is not it.
        public static let notLeader = Code(.notLeader)
        /// No leader is known; the request was not applied.
        public static let noLeader = Code(.noLeader)
        /// The deadline passed; the outcome is unknown (the command may still be applied).
        public static let timedOut = Code(.timedOut)
        /// The node is stopping or stopped; the request was not applied.
        public static let shuttingDown = Code(.shuttingDown)
        /// `run()` was called twice.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// The storage layer failed (see the cause).
        public static let storage = Code(.storage)
        /// The cluster refused the request (for example a leadership transfer in progress); not applied.
        public static let rejected = Code(.rejected)
        /// A peer could not be reached.
        public static let unreachable = Code(.unreachable)
        /// Another membership change is being carried out; this one was not started.
        public static let membershipChangeInProgress = Code(.membershipChangeInProgress)
        /// A new member did not catch up with the log in time; it stays a read-only member.
        public static let tooSlow = Code(.tooSlow)
        /// The user's ``StateMachine`` failed to apply, snapshot or restore; the node stops.
        public static let stateMachine = Code(.stateMachine)
        /// The leader has too much work queued (see ``RaftNode/Configuration/maxUnappliedEntries``,
        /// ``RaftNode/Configuration/maxUnappliedBytes``, ``RaftNode/Configuration/maxPendingReads``);
        /// the request was not applied. Retry after a short pause.
        public static let overloaded = Code(.overloaded)

        /// The code's name.
        public var description: String { "\(self.value)" }

        /// Every code (transports map them by name).
        package static var all: [Code] { Value.allCases.map(Code.init) }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The leader, when known (for ``Code/notLeader``).
    public var leader: NodeID?
    /// The error underneath, when there is one: a `StorageError` for ``Code/storage``, the state
    /// machine's own error for ``Code/stateMachine``, a transport's error for ``Code/unreachable``.
    /// Its text is part of ``message`` already; it is here for code that inspects it.
    public var cause: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, leader: NodeID? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.leader = leader
        self.cause = cause
    }

    /// `code: message`.
    public var description: String { "\(self.code): \(self.message)" }

    /// Same code, message and leader (the cause is not compared).
    public static func == (a: RaftError, b: RaftError) -> Bool {
        a.code == b.code && a.message == b.message && a.leader == b.leader
    }

    /// Hashes the code, message and leader.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.message)
        hasher.combine(self.leader)
    }
}
