/// An error the core reports for a request it cannot accept.
///
/// The core never crashes on bad input from the network; it reports bad requests from its host
/// with this error.
public struct RaftCoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case notLeader, transferInProgress, configurationChangeInProgress, invalidConfigurationChange
            case invalidArgument, invalidConfiguration, notVoter, notMember, noLeader, invalidState
            case configurationUnknown
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// This node is not the leader; the error's `leader` may name the one it knows.
        public static let notLeader = Code(.notLeader)
        /// A leadership transfer is in progress; proposals are refused until it ends.
        public static let transferInProgress = Code(.transferInProgress)
        /// A membership change is already in flight (uncommitted).
        public static let configurationChangeInProgress = Code(.configurationChangeInProgress)
        /// The membership change does not make sense for the current configuration.
        public static let invalidConfigurationChange = Code(.invalidConfigurationChange)
        /// An argument is out of range.
        public static let invalidArgument = Code(.invalidArgument)
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The target of a leadership transfer is not a voter.
        public static let notVoter = Code(.notVoter)
        /// This node is not a member of the cluster.
        public static let notMember = Code(.notMember)
        /// No leader is known, so the request cannot be forwarded.
        public static let noLeader = Code(.noLeader)
        /// Persistent state handed to the core is inconsistent.
        public static let invalidState = Code(.invalidState)
        /// A snapshot was asked for at an index whose configuration this node does not know (a
        /// node that joined later, before the entry that added it); take it later.
        public static let configurationUnknown = Code(.configurationUnknown)

        /// The code's name.
        public var description: String { "\(self.value)" }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The leader this node knows of, for ``Code/notLeader``.
    public var leader: NodeID?

    /// Creates an error.
    public init(_ code: Code, _ message: String, leader: NodeID? = nil) {
        self.code = code
        self.message = message
        self.leader = leader
    }

    /// `code: message`.
    public var description: String { "\(self.code): \(self.message)" }
}
