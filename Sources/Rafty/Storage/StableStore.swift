public import RaftCore

/// What a node must remember across restarts besides its log: who it is, its term and vote, its
/// commit index and the membership it knows.
public struct StableState: Sendable, Hashable {
    /// The version of the on-disk format that ``FileStableStore`` writes (2: the configuration
    /// carries member addresses; 3: and their data-directory incarnations). Versions 1 and 2 are
    /// still read.
    public static let formatVersion: UInt32 = 3

    /// This node's id, once known.
    public var nodeID: NodeID?
    /// Term, vote and commit index.
    public var hardState: HardState
    /// The membership this node started from or last learned (used when the log holds none).
    public var configuration: ClusterConfiguration?

    /// Creates a state; the defaults are those of a node that never ran.
    public init(nodeID: NodeID? = nil, hardState: HardState = HardState(), configuration: ClusterConfiguration? = nil) {
        self.nodeID = nodeID
        self.hardState = hardState
        self.configuration = configuration
    }
}

/// Durable storage for ``StableState``: one atomic, durable replacement at a time.
public protocol StableStore: AnyObject, Sendable {
    /// The stored state (``StableState/init(nodeID:hardState:configuration:)`` defaults if none).
    var state: StableState { get }

    /// Atomically replaces the stored state; durable when it returns. After a crash the store
    /// holds either the old or the new state, never a mix.
    func save(_ state: StableState) throws(StorageError)
}
