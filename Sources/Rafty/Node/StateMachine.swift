/// The replicated state machine a user of ``RaftNode`` implements.
///
/// The runtime calls it from one task at a time, in log order, and only with committed commands.
public protocol StateMachine: Sendable {
    /// Applies committed commands in order and returns one result per command.
    func apply(_ commands: [[UInt8]]) async throws -> [[UInt8]]
    /// Answers a read-only query against the current state (used by ``RaftNode/read(_:consistency:timeout:)``).
    func query(_ request: [UInt8]) async throws -> [UInt8]
    /// The whole state, for a snapshot.
    func snapshot() async throws -> [UInt8]
    /// Replaces the whole state with a snapshot's.
    func restore(from snapshot: [UInt8]) async throws
}
