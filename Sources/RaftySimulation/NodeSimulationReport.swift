import RaftCore

/// What one run of the node simulation (``SimulationWorkload/simulate(seed:nodeCount:clients:faultMilliseconds:)``)
/// did and found; ``add(_:)`` sums runs.
public struct NodeSimulationReport: Sendable, CustomStringConvertible {
    /// The seed that reproduces the run.
    public var seed: UInt64
    /// The cluster's size.
    public var nodeCount: Int
    /// An empty report, to add runs to.
    public init(seed: UInt64, nodeCount: Int) {
        self.seed = seed
        self.nodeCount = nodeCount
    }

    /// Client operations invoked, and those whose outcome the client saw.
    public var operations = 0
    public var completed = 0
    /// Crashes: at any moment, and inside a persistence (between two storage steps).
    public var crashes = 0
    public var crashesBetweenSteps = 0
    /// Graceful stops with requests in flight, and freezes of a whole node.
    public var stops = 0
    public var freezes = 0
    /// Snapshots written by nodes, and installed from a leader.
    public var snapshotsTaken = 0
    public var snapshotsInstalled = 0
    /// Snapshot messages delivered without their bytes.
    public var snapshotsWithoutBytes = 0
    /// Requests a follower forwarded to the leader (commands over the peer stream, other
    /// requests as calls).
    public var forwarded = 0
    /// Answers to forwarded commands that reached the follower after it applied their index.
    public var lateForwardAnswers = 0
    /// Membership changes (promotions, demotions) that completed.
    public var membershipChanges = 0
    /// Lease reads that completed.
    public var leaseReads = 0
    /// Requests refused by backpressure (not applied).
    public var overloaded = 0
    /// Disks wiped (a node back under its id with empty stores and a new incarnation).
    public var wipes = 0
    /// Messages refused because their sender's disk was wiped since the receiver first heard it.
    public var refusedMessages = 0
    /// Snapshots whose state was captured at once, applying going on while they were written.
    public var snapshotsCaptured = 0
    /// Appends whose evicted commands were read back from the sender's log store.
    public var hydratedAppends = 0
    /// Batches of committed entries whose commands, loaded as placeholders at a restart, were read
    /// back from the log store before applying.
    public var hydratedApplies = 0
    /// Histories the linearizability checker could not settle within its bound.
    public var uncheckedHistories = 0
    /// The first safety violation, if any.
    public var failure: String?

    /// Adds another run's counts to these (for a suite's totals; the failure is not carried over).
    public mutating func add(_ other: NodeSimulationReport) {
        self.operations += other.operations
        self.completed += other.completed
        self.crashes += other.crashes
        self.crashesBetweenSteps += other.crashesBetweenSteps
        self.stops += other.stops
        self.freezes += other.freezes
        self.snapshotsTaken += other.snapshotsTaken
        self.snapshotsInstalled += other.snapshotsInstalled
        self.snapshotsWithoutBytes += other.snapshotsWithoutBytes
        self.forwarded += other.forwarded
        self.lateForwardAnswers += other.lateForwardAnswers
        self.membershipChanges += other.membershipChanges
        self.leaseReads += other.leaseReads
        self.overloaded += other.overloaded
        self.wipes += other.wipes
        self.refusedMessages += other.refusedMessages
        self.uncheckedHistories += other.uncheckedHistories
        self.hydratedAppends += other.hydratedAppends
        self.hydratedApplies += other.hydratedApplies
        self.snapshotsCaptured += other.snapshotsCaptured
    }

    public var description: String {
        "seed \(self.seed), \(self.nodeCount) nodes: \(self.completed)/\(self.operations) operations completed "
            + "(\(self.forwarded) forwarded, \(self.lateForwardAnswers) answered late, \(self.leaseReads) lease reads, \(self.overloaded) refused as overloaded), \(self.crashes) crashes "
            + "(\(self.crashesBetweenSteps) between storage steps), \(self.wipes) disks wiped (\(self.refusedMessages) messages refused), \(self.stops) stops, \(self.freezes) freezes, "
            + "\(self.membershipChanges) membership changes, \(self.snapshotsTaken) snapshots taken (\(self.snapshotsCaptured) captured, applying going on), \(self.snapshotsInstalled) installed "
            + "(\(self.snapshotsWithoutBytes) messages without bytes), \(self.hydratedAppends) appends and \(self.hydratedApplies) applies read back from the log store, \(self.uncheckedHistories) histories unchecked"
            + (self.failure.map { "; FAILED: \($0)" } ?? "")
    }
}
