import RaftCore

/// What a simulated node has on its "disk": everything that survives a crash.
struct SimulatedDisk: Sendable {
    var hardState = HardState()
    var entries: [Entry] = []
    var snapshot: SnapshotMetadata?
    var snapshotData: [UInt8] = []
}

/// One node of the simulated cluster: a RawNode plus the host around it (disk, state machine,
/// waiting clients). Everything but `disk` is lost in a crash.
struct SimulatedNode: Sendable {
    let id: NodeID
    var core: RawNode?
    var incarnation = 0
    var tickInterval: UInt64
    var disk = SimulatedDisk()
    var stateMachine = KVStateMachine()
    var applied: UInt64 = 0
    /// Client operations proposed here, by log index: the term they were proposed in and the op id.
    var pendingProposals: [UInt64: [(term: UInt64, op: Int)]] = [:]
    /// Client reads waiting for a read index, by context.
    var pendingReads: [UInt64: (op: Int, key: String)] = [:]
    /// Reads with a confirmed index, waiting until it is applied.
    var confirmedReads: [(index: UInt64, op: Int, key: String)] = []
    /// Snapshot bytes that arrived with an InstallSnapshot message, by snapshot index.
    var inboundSnapshots: [UInt64: [UInt8]] = [:]
    /// When set, the node crashes in the middle of its next Ready that must be persisted.
    var crashBeforePersist = false
    /// Per-incarnation monotonicity checks.
    var highestTerm: UInt64 = 0
    var highestCommit: UInt64 = 0
    /// While leading: the term and the commit index at the start of the leadership.
    var leadership: (term: UInt64, initialCommit: UInt64)?
    /// A frozen node (a stopped or starved process) handles nothing while the clock runs on: its
    /// ticks are counted, messages and client requests queue until it thaws.
    var frozen = false
    var missedTicks = 0
    var frozenMessages: [(message: Message, snapshot: [UInt8]?)] = []
    var frozenRequests: [(op: Int, operation: KVOperation, client: Int)] = []

    var isUp: Bool { self.core != nil }

    init(id: NodeID, tickInterval: UInt64) {
        self.id = id
        self.tickInterval = tickInterval
    }
}
