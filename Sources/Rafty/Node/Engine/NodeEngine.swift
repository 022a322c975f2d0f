package import Logging
package import RaftCore

/// A proposal waiting to be applied.
struct PendingProposal {
    var term: UInt64
    var deadline: ContinuousClock.Instant
    var started: ContinuousClock.Instant
    var request: RequestID
    /// Received by this follower and appended by the leader: it stays when this node's role or
    /// leader changes, and resolves when its index applies.
    var forwarded = false
}

/// A read waiting for its read index to be confirmed, then applied.
struct PendingRead {
    var request: RequestID
    var query: [UInt8]
    var deadline: ContinuousClock.Instant
    /// When a follower asked the leader for the read index.
    var asked: ContinuousClock.Instant
    var index: UInt64 = 0
}

/// Everything a running node decides, as a synchronous value type: it owns the ``RawNode``,
/// pending proposals, reads, transfers, the membership change in progress and snapshot
/// bookkeeping, and answers each input with ``NodeAction``s. It does no I/O, reads no clock
/// (time enters as `now`) and starts no task; `NodeLoop` (the runtime) and the simulator
/// execute its actions.
///
/// The executor carries out the actions of one call in order, and reports completions
/// (``persisted(now:)``, ``applied(_:results:now:)``) as soon as the work is done, before
/// carrying out the actions that follow; a ``NodeAction/persist(_:)`` is always the last action
/// of a call that persists a Ready, and nothing else is fed in until it is reported.
package struct NodeEngine {
    let configuration: RaftNode.Configuration
    /// This node's normalized address and its peers' (from the configuration).
    let address: String
    let peerAddresses: [String]
    package var core: RawNode
    var logger: Logger
    var metrics: NodeMetrics
    /// Known peers: id → address, and whether they said they vote (from discovery).
    var addresses: [NodeID: String]
    var peerRoles: [NodeID: Bool]
    let randomSeed: UInt64
    /// The hard state last handed to storage, and the last index of the stored log.
    var savedHardState: HardState
    var storedLastIndex: UInt64
    /// The last index confirmed applied, and the last handed to ``NodeAction/apply(_:)``.
    package var applied: UInt64
    var applying: UInt64
    var lastSnapshotIndex: UInt64
    var proposals: [UInt64: [PendingProposal]] = [:]
    /// The size of each of this leader's proposals not yet applied, by index, and their sum
    /// (backpressure: ``RaftNode/Configuration/maxUnappliedBytes``).
    var proposalBytes: [UInt64: Int] = [:]
    var unappliedBytes = 0
    /// Commands received during the current call, forwarded to the leader at its end.
    var outgoingForwards: [(command: [UInt8], proposal: PendingProposal)] = []
    /// Forwarded batches waiting for the leader to say where it appended them, by context.
    var forwardsAwaitingIndex: [UInt64: ForwardedBatch] = [:]
    var nextForwardContext: UInt64 = 1
    /// Term and result of entries applied while forwarded batches await their answer.
    var recentResults: [UInt64: (term: UInt64, result: [UInt8])] = [:]
    var readsWaitingForIndex: [UInt64: PendingRead] = [:]
    var readsWaitingForApply: [PendingRead] = []
    var nextReadContext: UInt64 = 1
    /// A follower's reads of the current call, asked of the leader with one read index at its end,
    /// and the reads each such request stands for (by the request's context).
    var followerReadBatch: [UInt64] = []
    var readBatches: [UInt64: [UInt64]] = [:]
    var inboundSnapshots: [UInt64: ReceivedSnapshot] = [:]
    var lastLeaderContact: ContinuousClock.Instant?
    /// When each peer was last heard from (for the quorum check of a demotion).
    var lastHeard: [NodeID: ContinuousClock.Instant] = [:]
    package var stopping = false
    var stopDeadline: ContinuousClock.Instant?
    /// The membership change the leader is carrying out.
    var membershipOperation: MembershipOperation?
    /// The data-directory incarnations of this node and of the peers its identity knows
    /// (``NodeIdentity``), kept current by the host (`NodeLoop` before each batch, the simulation
    /// before each delivery): a bootstrap or a promotion records them in the configuration.
    package var incarnations: [NodeID: UInt64] = [:]
    /// Callers waiting for a leadership transfer to finish.
    var transfers: [(target: NodeID, deadline: ContinuousClock.Instant, request: RequestID)] = []
    /// The snapshot being written; entries that commit meanwhile wait in `deferredEntries`, so
    /// the snapshot shows exactly its index, unless the state machine captured a view of it.
    var snapshotInFlight: SnapshotMetadata?
    var snapshotViewCaptured = false
    /// Snapshots this node streams (or has just streamed) to followers, by follower.
    var snapshotStreams: [NodeID: SnapshotStream] = [:]
    var deferredEntries: [Entry] = []
    /// The Ready whose ``NodeAction/persist(_:)`` is outstanding.
    var awaitingPersistence: Ready?
    /// The last of its committed entries already handed to the state machine (0: none).
    var appliedEarlyThrough: UInt64 = 0
    /// When the core's next tick is due.
    var nextTick: ContinuousClock.Instant
    /// The last role reported in the log, to log changes once.
    var lastSoftState: SoftState?

    /// A running node over the state recovered from storage (`snapshotIndex`: the snapshot the
    /// state machine was restored from).
    package init(
        configuration: RaftNode.Configuration, address: String, peerAddresses: [String], addresses: [NodeID: String],
        peerRoles: [NodeID: Bool],
        membership: ClusterConfiguration, restoring state: RawNode.PersistentState, metrics: NodeMetrics,
        logger: Logger, now: ContinuousClock.Instant, randomSeed: UInt64
    ) throws(RaftCoreError) {
        self.configuration = configuration
        self.address = address
        self.peerAddresses = peerAddresses
        self.addresses = addresses
        self.peerRoles = peerRoles
        self.randomSeed = randomSeed
        self.core = try RawNode(configuration: Self.coreOptions(configuration, seed: randomSeed), membership: membership, restoring: state)
        self.logger = logger
        self.metrics = metrics
        self.savedHardState = state.hardState
        self.storedLastIndex = state.entries.last?.index ?? state.snapshot?.index ?? 0
        self.applied = state.snapshot?.index ?? 0
        self.applying = self.applied
        self.lastSnapshotIndex = self.applied
        self.nextTick = now + configuration.tick
        if membership.voters == [configuration.id] { self.core.campaign() }  // a single-server cluster leads at once
    }

    static func coreOptions(_ configuration: RaftNode.Configuration, seed: UInt64) -> RawNode.Configuration {
        var options = RawNode.Configuration(id: configuration.id)
        options.preVote = configuration.preVote
        options.maxAppendEntries = configuration.maxAppendEntries
        options.electionTimeout = configuration.electionTicks
        options.heartbeatInterval = configuration.heartbeatTicks
        // Leases stay safe while clocks run up to 20 % apart.
        options.leaseDriftMargin = RawNode.Configuration.leaseDriftMargin(electionTimeout: configuration.electionTicks)
        options.randomSeed = seed
        // Followers learn the commit index with the next append or heartbeat unless they wait for
        // it: half the messages per write.
        options.commitOnDemand = true
        return options
    }

    var id: NodeID { self.configuration.id }

    /// One election timeout (the shortest).
    var electionTimeout: Duration { self.configuration.electionTimeout }

    // MARK: - Inputs

    /// Handles a batch of inputs that arrived together: peer messages first (acknowledgements
    /// that arrived while the process was starved keep a leader from deposing itself), then every
    /// tick that elapsed by `now`, then the rest (a read that waited while the process was paused
    /// is judged at `now`), then the work that results.
    package mutating func handle(_ inputs: [NodeInput], now: ContinuousClock.Instant) -> [NodeAction] {
        precondition(self.awaitingPersistence == nil, "an input arrived before the persistence it waits for was reported")
        var actions: [NodeAction] = []
        let (messages, others) = inputs.partitioned { $0.isMessage }
        for input in messages { self.handle(input, now: now, into: &actions) }
        self.catchUpTicks(now: now)
        for input in others { self.handle(input, now: now, into: &actions) }
        self.flushForwards(now: now, into: &actions)
        self.flushFollowerReads()
        self.drive(now: now, into: &actions)
        return actions
    }

    private mutating func handle(_ input: NodeInput, now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        switch input {
        case .tick:
            self.expireWaiters(now: now, into: &actions)
        case .message(let message, let snapshot):
            if case .installSnapshot(let metadata) = message.body {
                // The core would accept the snapshot and the node could not install it: drop the
                // message (the leader sends the snapshot again).
                guard let snapshot else {
                    self.logger.warning(
                        "dropped a snapshot message without its bytes",
                        metadata: ["raft.from": "\(message.from)", "raft.snapshot_index": "\(metadata.index)"])
                    return
                }
                self.inboundSnapshots[metadata.index] = snapshot
            }
            if message.term >= self.core.term, Self.isFromLeader(message) { self.lastLeaderContact = now }
            self.lastHeard[message.from] = now
            self.core.step(message)  // keeps the term rules for forwarded proposals too
            switch message.body {
            case .forwardedProposals(let batch): self.acceptForwarded(batch, from: message.from, into: &actions)
            case .forwardedProposalsResponse(let response): self.forwardAnswered(response, from: message.from, into: &actions)
            default: break
            }
        case .discovered(let address, let info):
            self.addresses[info.id] = address
            self.peerRoles[info.id] = info.isVoter
        case .learnedAddress(let id, let address):
            if self.addresses[id] == nil { self.addresses[id] = address }
        case .request(let request, let kind, let deadline):
            switch kind {
            case .propose(let command): self.propose(command, request: request, deadline: deadline, now: now, into: &actions)
            case .read(let query, let consistency):
                self.read(query, consistency: consistency, request: request, deadline: deadline, now: now, into: &actions)
            case .transfer(let target): self.transferLeadership(to: target, request: request, deadline: deadline, into: &actions)
            case .membership(let change): self.changeMembership(change, request: request, deadline: deadline, now: now, into: &actions)
            case .bootstrap: self.bootstrap(request: request, into: &actions)
            }
        case .snapshotWritten(let metadata, let failure):
            self.finishSnapshot(metadata, failure: failure, now: now, into: &actions)
        case .snapshotSent(let peer, let index, let delivered):
            self.snapshotSent(to: peer, index: index, delivered: delivered, now: now)
        case .stop:
            self.beginStop(now: now)
        }
    }

    static func isFromLeader(_ message: Message) -> Bool {
        switch message.body {
        case .append, .heartbeat, .installSnapshot: true
        default: false
        }
    }

    /// Feeds the core every tick that elapsed by the clock: a paused or starved process must not
    /// count one tick for a second that passed (its lease would outlive the followers' patience).
    /// After a longer pause it ticks one election timeout's worth — enough to end any lease and
    /// let check-quorum judge the leader once — and skips the rest.
    mutating func catchUpTicks(now: ContinuousClock.Instant) {
        var ticks = 0
        while self.nextTick <= now, ticks < self.configuration.electionTicks {
            self.core.tick()
            self.nextTick += self.configuration.tick
            ticks += 1
        }
        if self.nextTick <= now { self.nextTick = now + self.configuration.tick }
    }

    // MARK: - Stopping

    /// A leader hands leadership to the most up-to-date voter before stopping.
    mutating func beginStop(now: ContinuousClock.Instant) {
        self.stopping = true
        self.stopDeadline = now + self.electionTimeout * 2
        guard self.core.role == .leader, let target = self.mostUpToDateVoter() else { return }
        try? self.core.transferLeadership(to: target)
        self.logger.info("stopping: transferring leadership", metadata: ["raft.target": "\(target)"])
    }

    /// Whether a stopping node may end: a leader waits (briefly) until leadership moved on.
    package func readyToStop(now: ContinuousClock.Instant) -> Bool {
        guard self.stopping else { return false }
        guard self.core.role == .leader, self.core.configuration.voters.count > 1 else { return true }
        return now >= self.stopDeadline!
    }

    /// Answers every waiting caller as the node stops or fails. A proposal in the log may still
    /// commit under the next leader: its outcome is unknown.
    package mutating func failAll(_ error: RaftError) -> [NodeAction] {
        var actions: [NodeAction] = []
        let unknown = RaftError(.timedOut, "\(error.message); the command may or may not be applied")
        for index in self.proposals.keys.sorted() {
            for proposal in self.proposals[index]! { actions.append(.answer(proposal.request, .failure(unknown))) }
        }
        self.proposals = [:]
        self.releaseProposalBytes()
        self.failForwards(error, into: &actions)
        for context in self.readsWaitingForIndex.keys.sorted() {
            actions.append(.answer(self.readsWaitingForIndex[context]!.request, .failure(error)))
        }
        self.readsWaitingForIndex = [:]
        self.followerReadBatch = []
        self.readBatches = [:]
        for read in self.readsWaitingForApply { actions.append(.answer(read.request, .failure(error))) }
        self.readsWaitingForApply = []
        for transfer in self.transfers { actions.append(.answer(transfer.request, .failure(error))) }
        self.transfers = []
        if let operation = self.membershipOperation {
            let code: RaftError.Code = operation.awaiting != nil || operation.committedAny ? .timedOut : error.code
            let outcome = code == .timedOut ? " may or may not be complete" : " not applied"
            actions.append(.answer(operation.request, .failure(RaftError(code, "\(error.message); membership change \(operation.change)\(outcome)"))))
            self.membershipOperation = nil
        }
        return actions
    }
}

extension Array {
    /// Splits into the elements that match and those that do not, keeping order.
    func partitioned(_ matches: (Element) -> Bool) -> (matching: [Element], rest: [Element]) {
        var matching: [Element] = []
        var rest: [Element] = []
        for element in self {
            if matches(element) { matching.append(element) } else { rest.append(element) }
        }
        return (matching, rest)
    }
}
