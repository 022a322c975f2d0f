/// The Raft algorithm as a deterministic value type, in the style of etcd-io/raft's `RawNode`.
///
/// A host feeds it input — ``tick()``, ``step(_:)``, ``propose(_:)``, ``readIndex(context:lease:)``,
/// ``proposeConfigurationChange(_:)``, ``transferLeadership(to:)`` — then takes a ``Ready`` with
/// ``ready()``, carries it out in the documented order and calls ``advance(_:)``. The node does no
/// I/O, reads no clock and uses no randomness other than a generator seeded from its configuration,
/// so the same inputs always produce the same outputs.
public struct RawNode: Sendable {
    /// This node's id.
    public var id: NodeID { self.options.id }
    let options: Configuration

    var log: RaftLog
    /// The current term.
    public internal(set) var term: UInt64 = 0
    /// The vote cast in the current term.
    public internal(set) var vote: NodeID?
    /// This node's role.
    public internal(set) var role: Role = .follower
    /// The leader of the current term, if known.
    public internal(set) var leader: NodeID?
    /// The active configuration: the last one appended to the log (Raft thesis §4.1).
    public internal(set) var configuration: ClusterConfiguration
    /// Index of the entry that holds ``configuration`` (or the snapshot index).
    public internal(set) var configurationIndex: UInt64

    var rng: SplitMix64
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// Local tick counter; leases are measured in it.
    var tickCount: UInt64 = 0
    /// After a (re)start a node honours the lease of a leader it may have heard from before the crash.
    var startupLeaseGuard = true

    // Candidate state.
    var votes: [NodeID: Bool] = [:]

    // Leader state.
    var progress: [NodeID: Progress] = [:]
    var leadTransferee: NodeID?
    /// Set once this leader sent TimeoutNow: voters may then ignore their lease, so ours is void.
    var leaseRevoked = false
    var readRound: UInt64 = 0
    var readRoundPending = false
    /// New entries or a new commit index to send to every follower at the next ``ready()``.
    var broadcastPending = false
    /// The commit index advanced: followers waiting for it are told at the next ``ready()``.
    var commitAdvanced = false
    var pendingReads: [PendingRead] = []
    var readsAwaitingCommit: [PendingRead] = []

    // Output buffers.
    var messages: [Message] = []
    var persistedMessages: [Message] = []
    var readStates: [ReadState] = []
    var droppedReads: [UInt64] = []
    var lastSoftState: SoftState
    var lastHardState: HardState

    struct PendingRead: Sendable, Hashable {
        var context: UInt64
        var from: NodeID
        var index: UInt64
        var round: UInt64
    }

    /// Creates a node, fresh or restarting from what it persisted.
    ///
    /// - Parameters:
    ///   - configuration: tuning; validated here.
    ///   - membership: the cluster configuration for a brand-new cluster (used only when the log and
    ///     snapshot hold none). A node that joins an existing cluster passes an empty one and learns
    ///     the configuration from the leader.
    ///   - state: what the node persisted before it stopped.
    /// - Throws: ``RaftCoreError`` with ``RaftCoreError/Code/invalidConfiguration`` or
    ///   ``RaftCoreError/Code/invalidState`` if the input is inconsistent.
    public init(
        configuration: Configuration,
        membership: ClusterConfiguration,
        restoring state: PersistentState = PersistentState()
    ) throws(RaftCoreError) {
        try configuration.validate()
        self.options = configuration
        self.rng = SplitMix64(seed: configuration.randomSeed ^ (configuration.id &* 0x9E37_79B9_7F4A_7C15))

        let snapshotIndex = state.snapshot?.index ?? 0
        let entries = state.entries.filter { $0.index > snapshotIndex }
        var expected = snapshotIndex + 1
        var previousTerm = state.snapshot?.term ?? 0
        for entry in entries {
            guard entry.index == expected, entry.term >= previousTerm, entry.term <= state.hardState.term else {
                throw RaftCoreError(.invalidState, "stored entries are not consecutive after index \(expected - 1) or have inconsistent terms")
            }
            expected += 1
            previousTerm = entry.term
        }
        self.log = RaftLog(snapshot: state.snapshot, baseConfiguration: membership, entries: entries, committed: state.hardState.commit)
        self.term = state.hardState.term
        self.vote = state.hardState.vote
        self.configurationIndex = self.log.lastConfigurationIndex
        self.configuration = self.log.configuration(at: self.log.lastIndex)
        self.lastSoftState = SoftState(role: .follower, leader: nil)
        self.lastHardState = HardState(term: state.hardState.term, vote: state.hardState.vote, commit: self.log.committed)
        self.resetRandomizedElectionTimeout()
    }

    /// A summary of the node's state.
    public var status: Status {
        Status(
            id: self.id, term: self.term, vote: self.vote, role: self.role, leader: self.leader,
            commitIndex: self.log.committed, appliedIndex: self.log.applied, firstIndex: self.log.firstIndex,
            lastIndex: self.log.lastIndex, configuration: self.configuration,
            matchIndex: self.progress.mapValues(\.match)
        )
    }

    /// The commit index.
    public var commitIndex: UInt64 { self.log.committed }
    /// The last log index.
    public var lastIndex: UInt64 { self.log.lastIndex }
    /// The first log index still held in memory (earlier entries were compacted).
    public var firstIndex: UInt64 { self.log.firstIndex }
    /// The newest snapshot the node knows of (taken locally or installed).
    public var snapshot: SnapshotMetadata? { self.log.snapshot }
    /// The term of the entry at `index`, if it is held in memory.
    public func term(at index: UInt64) -> UInt64? { self.log.term(at: index) }
    /// The entry at `index`, if it is held in memory.
    public func entry(at index: UInt64) -> Entry? { self.log.entry(at: index) }

    /// The configuration in force at the commit index (the active one may be newer, uncommitted).
    public var committedConfiguration: ClusterConfiguration { self.log.configuration(at: self.log.committed) }

    /// Whether this node is a voter of the active configuration.
    public var isVoter: Bool { self.configuration.voters.contains(self.id) }

    /// Whether this node may campaign: a voter of its active configuration, or a voter of the one
    /// before it while the active one is not known to be committed.
    ///
    /// A leader that removed or demoted itself may be the only node that holds the change, and the
    /// others may need its vote (in a two-voter cluster, always), which it refuses to their shorter
    /// logs: if it lost leadership before the change committed it must be able to win again and
    /// finish it (Raft thesis §4.2.2: such a server "might still be needed until the C_new entry is
    /// committed"). It asks, and counts, only the voters of its active configuration (never its own
    /// vote), and steps down again once the change commits.
    var mayCampaign: Bool {
        if self.isVoter { return true }
        guard self.configurationIndex > self.log.committed else { return false }
        return self.log.configuration(at: self.configurationIndex - 1).voters.contains(self.id)
    }

    // MARK: - Input

    /// Advances logical time by one tick.
    public mutating func tick() {
        self.tickCount += 1
        if self.role == .leader {
            self.tickLeader()
        } else {
            self.tickElection()
        }
    }

    /// Starts an election now (for example, a single-node cluster at start-up), if this node may.
    public mutating func campaign() {
        guard self.role != .leader, self.mayCampaign else { return }
        if self.options.preVote {
            self.becomePreCandidate()
        } else {
            self.becomeCandidate(isTransfer: false)
        }
    }

    /// Proposes a command. Only a leader accepts proposals.
    ///
    /// - Returns: the index and term of the new entry; the command was applied if the entry
    ///   applied at that index has this term.
    @discardableResult
    public mutating func propose(_ command: [UInt8]) throws(RaftCoreError) -> (index: UInt64, term: UInt64) {
        try self.checkCanPropose()
        return self.appendEntry(.command(command))
    }

    /// Proposes a single-server membership change. Only one may be uncommitted at a time.
    @discardableResult
    public mutating func proposeConfigurationChange(
        _ change: ConfigurationChange
    ) throws(RaftCoreError) -> (index: UInt64, term: UInt64) {
        try self.checkCanPropose()
        guard self.configurationIndex <= self.log.committed,
            self.log.term(at: self.log.committed) == self.term
        else {
            throw RaftCoreError(.configurationChangeInProgress, "a membership change is in progress; retry after it commits")
        }
        let next = try self.configuration.applying(change)
        return self.appendEntry(.configuration(next))
    }

    /// Asks to confirm a linearizable read. A ``ReadState`` with `context` appears in a later
    /// ``Ready`` (or the context in ``Ready/droppedReads`` if it cannot be served).
    ///
    /// - Parameters:
    ///   - context: an id chosen by the host to match the answer.
    ///   - lease: on the leader, answer at once while its lease is valid (falls back to a heartbeat
    ///     round otherwise). Followers always ask the leader for a confirmed index.
    public mutating func readIndex(context: UInt64, lease: Bool = false) {
        if self.role == .leader {
            self.handleReadRequest(context: context, from: self.id, lease: lease)
        } else if let leader = self.leader {
            self.send(to: leader, .readIndex(context: context))
        } else {
            self.droppedReads.append(context)
        }
    }

    /// Drops the payloads of the oldest commands in the in-memory log that are applied and
    /// persisted until the others hold at most `keepingBytes`: the log's memory stays bounded
    /// whatever its length. An append to a follower that lags behind them then carries
    /// ``Entry/Payload/evictedCommand(byteCount:)`` placeholders, which the host replaces from its
    /// log store before sending (``Message/evictedRange`` and ``Message/hydrating(_:)``).
    public mutating func evictPayloads(keepingBytes: Int) {
        self.log.evictPayloads(keepingBytes: max(0, keepingBytes))
    }

    /// Bytes of command payloads the in-memory log holds (see ``evictPayloads(keepingBytes:)``).
    public var residentPayloadBytes: Int { self.log.residentBytes }

    /// Tells the leader that `peer` waits to learn that `index` is committed (commands it forwarded):
    /// once it is, the leader sends it the commit index at once instead of with the next heartbeat.
    public mutating func peerWaitsForCommit(_ peer: NodeID, through index: UInt64) {
        guard self.role == .leader, self.progress[peer] != nil else { return }
        self.progress[peer]!.commitWanted = max(self.progress[peer]!.commitWanted, index)
        if index <= self.log.committed { self.commitAdvanced = true }
    }

    /// Hands leadership to `target`: proposals are refused meanwhile; the target is brought up to
    /// date, then told to campaign. The transfer aborts after an election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(RaftCoreError) {
        guard self.role == .leader else {
            throw RaftCoreError(.notLeader, "only the leader can transfer leadership", leader: self.leader)
        }
        guard target != self.id else { throw RaftCoreError(.invalidArgument, "node \(target) is already the leader") }
        guard self.configuration.voters.contains(target), let pr = self.progress[target] else {
            throw RaftCoreError(.notVoter, "node \(target) is not a voter")
        }
        if self.leadTransferee == target { return }
        self.leadTransferee = target
        self.electionElapsed = 0
        if pr.match == self.log.lastIndex {
            self.sendTimeoutNow(to: target)
        } else {
            self.sendAppend(to: target)
        }
    }

    /// The node the leader is handing leadership to, if a transfer is in progress.
    public var transferTarget: NodeID? { self.leadTransferee }

    /// Records that the host took a snapshot of the state machine up to `index` (at most the applied
    /// index) and lets the core drop entries before it, keeping `trailingEntries` for slow followers.
    public mutating func compact(snapshotAt index: UInt64, trailingEntries: UInt64) throws(RaftCoreError) {
        _ = try self.snapshotMetadata(at: index)
        self.log.recordSnapshot(at: index, compactTo: index > trailingEntries ? index - trailingEntries : 0)
    }

    /// The metadata a snapshot of the state machine at `index` records, validated as
    /// ``compact(snapshotAt:trailingEntries:)`` would, without compacting anything: the host writes
    /// the snapshot (possibly off its event loop) and compacts once it is durable.
    public func snapshotMetadata(at index: UInt64) throws(RaftCoreError) -> SnapshotMetadata {
        guard index <= self.log.applied, index >= self.log.offset, index > (self.log.snapshot?.index ?? 0),
            let term = self.log.term(at: index)
        else {
            throw RaftCoreError(
                .invalidArgument,
                "snapshot index \(index) must be in \((self.log.snapshot?.index ?? 0) + 1)...\(self.log.applied) (newer than the last snapshot, applied)"
            )
        }
        // A node that joined later learned the configuration only from the entry that added it; a
        // snapshot before that entry would record an empty configuration, which no follower accepts.
        guard !self.log.configuration(at: index).voters.isEmpty else {
            throw RaftCoreError(
                .configurationUnknown, "the configuration in force at \(index) is not known here; snapshot after the first configuration entry")
        }
        return SnapshotMetadata(index: index, term: term, configuration: self.log.configuration(at: index))
    }

    /// Tells a leader whether sending a snapshot to `peer` succeeded, so it resumes or retries at once.
    public mutating func reportSnapshot(to peer: NodeID, success: Bool) {
        guard self.role == .leader, var pr = self.progress[peer], case .snapshot = pr.state else { return }
        // On failure forget the pending snapshot so probing restarts from the match index.
        if !success { pr.state = .probe }
        pr.becomeProbe()
        self.progress[peer] = pr
    }

    /// Tells a leader that `peer` is unreachable, so it stops streaming optimistically.
    public mutating func reportUnreachable(_ peer: NodeID) {
        guard self.role == .leader, var pr = self.progress[peer], case .replicate = pr.state else { return }
        pr.becomeProbe()
        self.progress[peer] = pr
    }

    // MARK: - Output

    /// Whether ``ready()`` has anything to do.
    public var hasReady: Bool {
        SoftState(role: self.role, leader: self.leader) != self.lastSoftState
            || self.currentHardState != self.lastHardState
            || self.log.pendingSnapshot != nil
            || self.log.stableIndex < self.log.lastIndex
            || !self.messages.isEmpty || !self.persistedMessages.isEmpty
            || self.log.applied < self.log.committed
            || !self.readStates.isEmpty || !self.droppedReads.isEmpty
            || self.readRoundPending || self.broadcastPending || self.commitAdvanced
    }

    /// Takes the work the host must do. Call ``advance(_:)`` when it is done.
    public mutating func ready() -> Ready {
        // A broadcast carries the commit index too: a commit advance adds messages only for
        // followers a broadcast did not reach.
        let broadcast = self.broadcastPending || (self.commitAdvanced && !self.options.commitOnDemand)
        let wantedCommits = self.commitAdvanced && self.options.commitOnDemand
        self.broadcastPending = false
        self.commitAdvanced = false
        if self.role == .leader {
            if broadcast { self.broadcastAppend() }
            if wantedCommits { self.sendWantedCommits() }
        }
        if self.readRoundPending {
            self.readRoundPending = false
            self.readRound += 1
            self.broadcastHeartbeat()
        }
        var ready = Ready()
        let soft = SoftState(role: self.role, leader: self.leader)
        if soft != self.lastSoftState { ready.softState = soft }
        let hard = self.currentHardState
        if hard != self.lastHardState { ready.hardState = hard }
        ready.snapshot = self.log.pendingSnapshot
        ready.entries = self.log.unstableEntries
        ready.messages = self.messages
        ready.persistedMessages = self.persistedMessages
        ready.committedEntries = self.log.nextCommittedEntries
        ready.readStates = self.readStates
        ready.droppedReads = self.droppedReads
        self.messages = []
        self.persistedMessages = []
        self.readStates = []
        self.droppedReads = []
        return ready
    }

    /// Confirms that the host carried out `ready`.
    public mutating func advance(_ ready: Ready) {
        if let soft = ready.softState { self.lastSoftState = soft }
        if let hard = ready.hardState { self.lastHardState = hard }
        if ready.snapshot != nil { self.log.pendingSnapshot = nil }
        if let last = ready.entries.last { self.log.stable(to: last.index, term: last.term) }
        if let last = ready.committedEntries.last, last.index > self.log.applied { self.log.applied = last.index }
        if self.role == .leader, self.maybeCommit() {
            self.commitAdvanced = true
        }
    }

    var currentHardState: HardState { HardState(term: self.term, vote: self.vote, commit: self.log.committed) }
}
