/// Identifies a node in a Raft cluster. Zero is reserved for "no node".
public typealias NodeID = UInt64

/// One entry of the replicated log.
public struct Entry: Sendable, Hashable {
    /// The term in which a leader created this entry.
    public var term: UInt64
    /// The position of this entry in the log; the first entry has index 1.
    public var index: UInt64
    /// What the entry carries.
    public var payload: Payload

    /// What a log entry carries.
    public enum Payload: Sendable, Hashable {
        /// An opaque command for the user's state machine.
        case command([UInt8])
        /// The empty entry a new leader appends to commit entries of earlier terms (§5.4.2).
        case noop
        /// The complete cluster configuration that takes effect when this entry is appended.
        case configuration(ClusterConfiguration)
        /// A command of `byteCount` bytes that the core dropped from its in-memory log once it was
        /// applied and persisted (``RawNode/evictPayloads(keepingBytes:)``), or that the host loaded
        /// as such at start-up (``RawNode/PersistentState/entries``). It appears in the append
        /// messages a leader makes for a follower that lags that far (the host reads the entries
        /// back from its log store before sending: ``Message/hydrating(_:)``) and, after such a
        /// start-up, in ``Ready/committedEntries`` (read back before applying). Never persisted,
        /// sent, applied or accepted from a peer.
        case evictedCommand(byteCount: Int)
    }

    /// Creates an entry.
    public init(term: UInt64, index: UInt64, payload: Payload) {
        self.term = term
        self.index = index
        self.payload = payload
    }

    /// Approximate encoded size, used to bound message sizes.
    public var byteSize: Int {
        switch self.payload {
        case .command(let bytes): return 24 + bytes.count
        case .evictedCommand(let byteCount): return 24 + byteCount
        case .noop: return 24
        case .configuration(let configuration):
            return 24 + 9 * (configuration.voters.count + configuration.learners.count)
                + configuration.addresses.values.reduce(0) { $0 + 12 + $1.utf8.count }
        }
    }
}
