public import Rafty
internal import Synchronization

/// The replicated key-value state machine: an in-memory map from key bytes to value bytes.
///
/// Commands are ``KVCommand``s, results ``KVResult``s and queries ``KVQuery``s, all in a
/// compact versioned binary encoding. A command that cannot be decoded changes nothing and
/// yields ``KVResult/Outcome/invalidCommand(reason:)`` — every node decides the same way, so
/// a bad entry in the log never stops or diverges the cluster.
///
/// ```swift
/// let store = KVStore()
/// let node = try RaftNode(configuration: configuration, stateMachine: store, transport: transport)
/// let kv = KVClient(node: node)
/// ```
public final class KVStore: StateMachine {
    struct State {
        var values: [[UInt8]: [UInt8]] = [:]
        var lastAppliedIndex: UInt64 = 0
        /// How often a snapshot replaced the state (tests check catch-up took that path).
        var restoreCount = 0
    }

    let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    /// The index of the last command applied (or restored from a snapshot); 0 when empty.
    public var lastAppliedIndex: UInt64 { self.state.withLock { $0.lastAppliedIndex } }

    /// How often a snapshot replaced the state.
    var restoreCount: Int { self.state.withLock { $0.restoreCount } }

    /// The number of keys.
    public var count: Int { self.state.withLock { $0.values.count } }

    /// The value of `key` in this node's copy, which may lag the cluster (a stale read).
    public func value(forKey key: [UInt8]) -> [UInt8]? {
        self.state.withLock { $0.values[key] }
    }

    /// Applies commands in log order; returns one encoded ``KVResult`` per command.
    public func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        self.state.withLock { state in
            commands.map { committed in
                state.lastAppliedIndex = committed.index
                let outcome: KVResult.Outcome
                switch Result(catching: { () throws(KVError) in try KVCommand(decoding: committed.bytes) }) {
                case .success(let command): outcome = Self.apply(command, to: &state.values)
                case .failure(let error): outcome = .invalidCommand(reason: error.message)
                }
                return KVResult(index: committed.index, outcome: outcome).encoded()
            }
        }
    }

    private static func apply(_ command: KVCommand, to values: inout [[UInt8]: [UInt8]]) -> KVResult.Outcome {
        switch command {
        case .put(let key, let value):
            values[key] = value
            return .put
        case .delete(let key):
            return .deleted(existed: values.removeValue(forKey: key) != nil)
        case .compareAndSet(let key, let expected, let new):
            guard values[key] == expected else { return .compareAndSet(swapped: false) }
            values[key] = new
            return .compareAndSet(swapped: true)
        }
    }

    /// Answers an encoded ``KVQuery`` with an answer for ``KVQuery/decodeAnswer(_:)``.
    ///
    /// - Throws: ``KVError/Code/malformed`` if the query cannot be decoded.
    public func query(_ request: [UInt8]) async throws -> [UInt8] {
        switch try KVQuery(decoding: request) {
        case .get(let key): KVQuery.encodeAnswer(self.value(forKey: key))
        }
    }
}
