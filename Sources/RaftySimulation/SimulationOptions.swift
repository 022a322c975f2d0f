public import RaftCore

/// How a simulated cluster behaves: size, timing, faults and snapshots. All randomness comes from `seed`.
public struct SimulationOptions: Sendable, Hashable {
    /// Number of node slots (ids 1...nodeCount).
    public var nodeCount: Int = 3
    /// How many of the slots (ids 1...initialVoters) form the initial configuration, all voters; the
    /// other slots start with an empty log and an empty configuration, outside the cluster, until a
    /// leader adds them. nil: every slot is an initial voter.
    public var initialVoters: Int? = nil
    /// The seed every random choice derives from; the same seed replays the same run.
    public var seed: UInt64 = 1
    /// Simulated time units per tick.
    public var tickInterval: UInt64 = 100
    /// Each node's tick interval deviates from `tickInterval` by up to this fraction (clock skew).
    public var clockSkew: Double = 0.02
    /// Each node's tick interval is drawn from `tickInterval ... tickInterval * (1 + clockRateError)`
    /// on top of `clockSkew`: clocks that run at different rates (leases must tolerate it).
    public var clockRateError: Double = 0
    /// Message delay bounds, in time units.
    public var minDelay: UInt64 = 1
    /// Message delay bounds, in time units.
    public var maxDelay: UInt64 = 20
    /// Probability that a message is lost.
    public var messageLoss: Double = 0
    /// Probability that a message is delivered twice.
    public var duplication: Double = 0
    /// Probability that a message is held back for up to ten ticks (reordering).
    public var longDelay: Double = 0
    /// Take a snapshot and compact the log every this many applied entries (nil: never).
    public var snapshotThreshold: UInt64? = nil
    /// Entries kept behind a snapshot for slow followers.
    public var trailingEntries: UInt64 = 3
    /// Election timeout in ticks.
    public var electionTimeout: Int = 10
    /// Heartbeat interval in ticks.
    public var heartbeatInterval: Int = 1
    /// Whether nodes run pre-vote.
    public var preVote: Bool = true
    /// Entries per append message.
    public var maxAppendEntries: Int = 16
    /// Whether leaders tell followers a new commit index only when they wait for it.
    public var commitOnDemand: Bool = false
    /// Whether leaders answer lease reads from their lease (half of the client reads ask for it).
    public var leaseReads: Bool = true
    /// Whether every client read asks for a lease read (instead of half of them).
    public var onlyLeaseReads: Bool = false

    /// The ids of the initial voters.
    public var initialVoterIDs: ClosedRange<NodeID> { 1...NodeID(min(self.initialVoters ?? self.nodeCount, self.nodeCount)) }

    /// Creates options with defaults: a reliable 3-node network.
    public init(nodeCount: Int = 3, seed: UInt64 = 1) {
        self.nodeCount = nodeCount
        self.seed = seed
    }

    /// An unreliable network: loss, duplication and reordering.
    public mutating func makeUnreliable() {
        self.messageLoss = 0.1
        self.duplication = 0.05
        self.longDelay = 0.05
    }

    func coreConfiguration(for id: NodeID) -> RawNode.Configuration {
        var configuration = RawNode.Configuration(id: id)
        configuration.electionTimeout = self.electionTimeout
        configuration.heartbeatInterval = self.heartbeatInterval
        configuration.preVote = self.preVote
        configuration.maxAppendEntries = self.maxAppendEntries
        configuration.commitOnDemand = self.commitOnDemand
        configuration.randomSeed = self.seed &* 31 &+ id
        return configuration
    }
}
