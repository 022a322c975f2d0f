/// Describes a snapshot: the state machine state after applying every entry up to `index`.
///
/// The snapshot bytes are opaque to the core; the host stores and transfers them.
public struct SnapshotMetadata: Sendable, Hashable {
    /// The last log index the snapshot covers.
    public var index: UInt64
    /// The term of the entry at `index`.
    public var term: UInt64
    /// The cluster configuration in effect at `index`.
    public var configuration: ClusterConfiguration

    /// Creates snapshot metadata.
    public init(index: UInt64, term: UInt64, configuration: ClusterConfiguration) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}
