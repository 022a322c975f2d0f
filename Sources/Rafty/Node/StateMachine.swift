/// The replicated state machine a user of ``RaftNode`` implements.
///
/// The runtime calls it from one task at a time, in log order, and only with committed commands.
public protocol StateMachine: Sendable {
    /// Applies committed commands in log order and returns one result per command (what
    /// ``RaftNode/submitCommand(_:timeout:)`` returns to the submitter).
    func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]]
    /// Answers a read-only query against the current state (used by ``RaftNode/read(_:consistency:timeout:)``).
    func query(_ request: [UInt8]) async throws -> [UInt8]
    /// Writes the whole state to `output`, in chunks of any size (a large state need never be one
    /// buffer: the runtime streams the chunks to the snapshot file). Applying waits meanwhile,
    /// unless ``snapshotView()`` captures the state instead.
    func snapshot(to output: SnapshotOutput) async throws
    /// Captures the current state, cheaply (a copy-on-write view, a frozen copy of a small
    /// state), to be written while the runtime goes on applying commands. Return nil (the
    /// default) to have ``snapshot(to:)`` write the live state while applying waits.
    func snapshotView() async throws -> (any StateMachineSnapshot)?
    /// Replaces the whole state with the snapshot read from `input`.
    func restore(from input: SnapshotInput) async throws
}

extension StateMachine {
    /// No view: applying waits while ``snapshot(to:)`` writes the state.
    public func snapshotView() async throws -> (any StateMachineSnapshot)? { nil }
}

/// A state captured by ``StateMachine/snapshotView()`` at one log index, written later.
public protocol StateMachineSnapshot: Sendable {
    /// Writes the captured state to `output`, in chunks of any size.
    func write(to output: SnapshotOutput) async throws
}

/// A committed command, with its place in the log.
public struct CommittedCommand: Sendable, Hashable {
    /// The log index (increasing; a state machine may report it to clients, like RaftyKV's `index`).
    public var index: UInt64
    /// The term of the leader that appended it.
    public var term: UInt64
    /// The bytes given to ``RaftNode/submitCommand(_:timeout:)``.
    public var bytes: [UInt8]

    /// Creates a committed command.
    public init(index: UInt64, term: UInt64, bytes: [UInt8]) {
        self.index = index
        self.term = term
        self.bytes = bytes
    }
}
