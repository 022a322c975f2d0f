import Synchronization

/// A state machine that is a value: the same commands, applied to the same state, give the same
/// state and the same answers, with no I/O and no clock.
///
/// Write the replicated part of a service this way (a configuration store, a lock table, a
/// counter) and run it in two places: in a ``RaftNode`` through ``LockedStateMachine``, and in
/// RaftySimulation's seeded node simulation, which crashes, freezes, partitions and restarts the
/// nodes around it and checks what its clients saw for linearizability.
public protocol DeterministicStateMachine: Sendable {
    /// The empty state, before the first command.
    init()
    /// Restores the state ``snapshot()`` wrote.
    ///
    /// - Throws: any error if the bytes are not such a snapshot; the node stops with
    ///   ``RaftError/Code/stateMachine``.
    init(snapshot: [UInt8]) throws
    /// Applies a committed command and returns its answer (what ``RaftNode/submitCommand(_:timeout:)``
    /// returns). A command the machine refuses is still applied, as a no-op: answer the refusal in
    /// the bytes, because every replica must reach the same state.
    mutating func apply(_ command: CommittedCommand) -> [UInt8]
    /// Answers a read-only request against the current state.
    ///
    /// - Throws: any error for a request it cannot answer; the read fails with
    ///   ``RaftError/Code/rejected`` and the node goes on.
    func query(_ request: [UInt8]) throws -> [UInt8]
    /// The whole state, as bytes ``init(snapshot:)`` reads.
    func snapshot() -> [UInt8]
}

/// Runs a ``DeterministicStateMachine`` in a ``RaftNode``: the value behind a lock.
///
/// Snapshots capture the value (a copy-on-write copy, so applying goes on while it is written).
public final class LockedStateMachine<Machine: DeterministicStateMachine>: StateMachine {
    private let machine: Mutex<Machine>

    /// Starts from `machine` (the empty state by default).
    public init(_ machine: Machine = Machine()) {
        self.machine = Mutex(machine)
    }

    /// A copy of the current state, for reads outside the node (tests, metrics).
    public var value: Machine { self.machine.withLock { $0 } }

    /// Applies the commands in order under one lock.
    public func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        self.machine.withLock { machine in commands.map { machine.apply($0) } }
    }

    /// Answers `request` from the current state.
    public func query(_ request: [UInt8]) async throws -> [UInt8] {
        let machine = self.value
        return try machine.query(request)
    }

    /// Writes the current state.
    public func snapshot(to output: SnapshotOutput) async throws {
        try output.write(self.value.snapshot())
    }

    /// Captures the current state; it is serialized while applying goes on.
    public func snapshotView() async throws -> (any StateMachineSnapshot)? {
        CapturedState(machine: self.value)
    }

    /// Replaces the state with the snapshot's.
    public func restore(from input: SnapshotInput) async throws {
        let restored = try Machine(snapshot: try input.readAll())
        self.machine.withLock { $0 = restored }
    }

    private struct CapturedState: StateMachineSnapshot {
        let machine: Machine
        func write(to output: SnapshotOutput) async throws { try output.write(self.machine.snapshot()) }
    }
}
