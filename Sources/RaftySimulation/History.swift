// Client-observed histories of operations on the replicated key/value register model.
// These are the input to `LinearizabilityChecker`.

/// An operation on the replicated key/value model. Values are Int; a missing key reads as nil.
public enum KVOperation: Sendable, Hashable {
    /// Reads the current value of `key` (nil when it was never written).
    case read(key: String)
    /// Unconditionally sets `key` to `value`.
    case write(key: String, value: Int)
    /// Compare-and-set: if the current value equals `expected` (nil = absent), set `new`.
    case cas(key: String, expected: Int?, new: Int)

    /// The key (register) this operation touches.
    public var key: String {
        switch self {
        case .read(let key), .write(let key, _), .cas(let key, _, _):
            return key
        }
    }
}

/// What a completed operation returned.
public enum KVResult: Sendable, Hashable {
    /// A read returned this value (nil = key absent).
    case read(Int?)
    /// A write was applied.
    case written
    /// A compare-and-set ran; `swapped` says whether the value matched and was replaced.
    case cas(swapped: Bool)
}

/// The outcome the client saw.
public enum KVOutcome: Sendable, Hashable {
    /// Took effect exactly once, between invoke and complete, returning this result.
    case ok(KVResult)
    /// Definitely did NOT take effect (e.g. rejected by a non-leader).
    case failed
    /// May or may not have taken effect, at any time after invoke (e.g. timeout, crash).
    case unknown
}

/// One client operation in a history. Times are simulation time (any monotonically comparable UInt64).
public struct HistoryEntry: Sendable, Hashable {
    /// Identifier, unique within a history (used in explanations).
    public var id: Int
    /// The client that issued the operation (informational; the checker relies on times only).
    public var client: Int
    /// The operation that was invoked.
    public var operation: KVOperation
    /// When the client invoked the operation.
    public var invokeTime: UInt64
    /// When the client saw the outcome; nil while pending and for `.unknown` outcomes.
    public var completeTime: UInt64?
    /// What the client saw; nil while pending (treated like `.unknown` by the checker).
    public var outcome: KVOutcome?

    /// Creates an entry; omit `completeTime` and `outcome` for a pending operation.
    public init(
        id: Int,
        client: Int,
        operation: KVOperation,
        invokeTime: UInt64,
        completeTime: UInt64? = nil,
        outcome: KVOutcome? = nil
    ) {
        self.id = id
        self.client = client
        self.operation = operation
        self.invokeTime = invokeTime
        self.completeTime = completeTime
        self.outcome = outcome
    }
}

/// Records a history: invoke returns an id; complete(id, outcome, time).
public struct HistoryRecorder: Sendable {
    // Ids are indices into this array, so completion is O(1).
    private var recorded: [HistoryEntry] = []

    /// Creates an empty recorder.
    public init() {}

    /// Records the invocation of `operation` by `client` at `time` and returns the new entry's id.
    public mutating func invoke(client: Int, operation: KVOperation, time: UInt64) -> Int {
        let id = recorded.count
        recorded.append(HistoryEntry(id: id, client: client, operation: operation, invokeTime: time))
        return id
    }

    /// Records the outcome of the pending operation `id`, seen at `time`.
    /// An `.unknown` outcome keeps `completeTime` nil: the operation may still take effect later.
    public mutating func complete(_ id: Int, outcome: KVOutcome, time: UInt64) {
        precondition(recorded.indices.contains(id), "HistoryRecorder: unknown operation id \(id)")
        precondition(recorded[id].outcome == nil, "HistoryRecorder: operation \(id) completed twice")
        recorded[id].outcome = outcome
        recorded[id].completeTime = outcome == .unknown ? nil : time
    }

    /// All entries; any still pending are reported as .unknown.
    public var entries: [HistoryEntry] {
        recorded.map { entry in
            var entry = entry
            if entry.outcome == nil { entry.outcome = .unknown }
            return entry
        }
    }
}
