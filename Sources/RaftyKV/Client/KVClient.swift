public import Rafty

/// Typed reads and writes of a ``KVStore`` replicated by a `RaftNode`, from any node (a
/// follower forwards to the leader).
///
/// Writes are validated against ``KVLimits`` before they are proposed. Errors are
/// ``KVError``s; a ``KVError/Code/cluster`` error carries the runtime's `RaftError`, whose
/// `RaftError/Code/timedOut` means the outcome of a write is unknown.
///
/// ```swift
/// let kv = KVClient(node: node)
/// let index = try await kv.put(Array("k".utf8), value: Array("v".utf8))
/// let value = try await kv.get(Array("k".utf8))
/// ```
public struct KVClient: Sendable {
    /// The outcome of a compare-and-set.
    public enum CompareAndSetOutcome: Sendable, Hashable {
        /// The value was written at this log index.
        case swapped(index: UInt64)
        /// The current value differed from the expected one (or was present when absence was
        /// expected); nothing was written. The check was applied at this log index.
        case conflict(index: UInt64)
    }

    /// The node requests go through.
    public let node: RaftNode
    /// The limits checked before proposing.
    public let limits: KVLimits

    /// Creates a client over `node`.
    public init(node: RaftNode, limits: KVLimits = .default) {
        self.node = node
        self.limits = limits
    }

    /// Sets `key` to `value`; returns the log index of the write once it is applied.
    public func put(_ key: [UInt8], value: [UInt8], timeout: Duration = .seconds(5)) async throws(KVError) -> UInt64 {
        try self.limits.validate(key: key)
        try self.limits.validate(value: value)
        let result = try await self.submit(.put(key: key, value: value), timeout: timeout)
        guard case .put = result.outcome else { throw Self.unexpected(result) }
        return result.index
    }

    /// Removes `key`; returns the log index and whether the key existed.
    public func delete(_ key: [UInt8], timeout: Duration = .seconds(5)) async throws(KVError) -> (index: UInt64, existed: Bool) {
        try self.limits.validate(key: key)
        let result = try await self.submit(.delete(key: key), timeout: timeout)
        guard case .deleted(let existed) = result.outcome else { throw Self.unexpected(result) }
        return (result.index, existed)
    }

    /// Sets `key` to `new` if its value is `expected`; with `expected` nil, only if the key is
    /// absent (create-only).
    public func compareAndSet(
        _ key: [UInt8], expected: [UInt8]?, new: [UInt8], timeout: Duration = .seconds(5)
    ) async throws(KVError) -> CompareAndSetOutcome {
        try self.limits.validate(key: key)
        try self.limits.validate(value: new)
        let result = try await self.submit(.compareAndSet(key: key, expected: expected, new: new), timeout: timeout)
        guard case .compareAndSet(let swapped) = result.outcome else { throw Self.unexpected(result) }
        return swapped ? .swapped(index: result.index) : .conflict(index: result.index)
    }

    /// The value of `key`, or nil if absent, read with `consistency` (default linearizable).
    public func get(
        _ key: [UInt8], consistency: RaftNode.ReadConsistency = .linearizable, timeout: Duration = .seconds(5)
    ) async throws(KVError) -> [UInt8]? {
        try self.limits.validate(key: key)
        let answer: [UInt8]
        do {
            answer = try await self.node.read(KVQuery.get(key: key).encoded(), consistency: consistency, timeout: timeout)
        } catch {
            throw KVError(error)
        }
        return try KVQuery.decodeAnswer(answer)
    }

    private func submit(_ command: KVCommand, timeout: Duration) async throws(KVError) -> KVResult {
        let bytes: [UInt8]
        do {
            bytes = try await self.node.submitCommand(command.encoded(), timeout: timeout)
        } catch {
            throw KVError(error)
        }
        return try KVResult(decoding: bytes)
    }

    private static func unexpected(_ result: KVResult) -> KVError {
        if case .invalidCommand(let reason) = result.outcome {
            return KVError(.malformed, "the cluster could not decode the command: \(reason)")
        }
        return KVError(.malformed, "unexpected result \(result.outcome) at index \(result.index)")
    }
}
