import CoreMetrics
import Logging
import RaftCore

/// A proposal waiting to be applied.
struct PendingProposal {
    var term: UInt64
    var deadline: ContinuousClock.Instant
    var started: ContinuousClock.Instant
    var continuation: CheckedContinuation<RaftNode.Answer, Never>
}

/// The state owned by a node's event loop, and the loop itself. Only the loop task touches it.
struct NodeLoop {
    let node: RaftNode
    let storage: RaftStorage
    var core: RawNode?
    var logger: Logger
    /// Known peers: id → address (and whether they vote).
    var addresses: [NodeID: String] = [:]
    var voters: Set<NodeID> = []
    var learners: Set<NodeID> = []
    var applied: UInt64 = 0
    var lastSnapshotIndex: UInt64 = 0
    var proposals: [UInt64: [PendingProposal]] = [:]
    var metrics: NodeMetrics
    var readsWaitingForIndex: [UInt64: (query: [UInt8], deadline: ContinuousClock.Instant, continuation: CheckedContinuation<RaftNode.Answer, Never>)] = [:]
    var readsWaitingForApply: [(index: UInt64, query: [UInt8], deadline: ContinuousClock.Instant, continuation: CheckedContinuation<RaftNode.Answer, Never>)] = []
    var nextReadContext: UInt64 = 1
    var inboundSnapshots: [UInt64: [UInt8]] = [:]
    var lastLeaderContact: ContinuousClock.Instant?
    var stopping = false
    /// The membership change the leader is carrying out.
    var membershipOperation: MembershipOperation?
    /// When each peer was last heard from (for the quorum check of a demotion).
    var lastHeard: [NodeID: ContinuousClock.Instant] = [:]
    /// Callers waiting for a leadership transfer to finish.
    var transfers: [(target: NodeID, deadline: ContinuousClock.Instant, continuation: CheckedContinuation<RaftNode.Answer, Never>)] = []
    var stopDeadline: ContinuousClock.Instant?
    /// The snapshot the state machine is writing off the loop, and the task writing it. Entries
    /// that commit meanwhile wait in `deferredEntries`, so the snapshot shows exactly its index.
    var snapshotInFlight: SnapshotMetadata?
    var snapshotTask: Task<Void, Never>?
    var deferredEntries: [Entry] = []
    /// Runs snapshot writes, reads and restores, off the cooperative pool.
    let blockingWork = DedicatedThreadExecutor()
    /// When the core's next tick is due, by the node's clock.
    var nextTick: ContinuousClock.Instant

    init(node: RaftNode) throws {
        self.node = node
        let configuration = node.configuration
        do {
            if let makeStorage = configuration.makeStorage {
                self.storage = try makeStorage()
            } else {
                self.storage = configuration.persistDataOnDisk
                    ? try RaftStorage.open(dataDirectory: configuration.resolvedDataDirectory)
                    : try RaftStorage.inMemory()
            }
        } catch {
            throw RaftError(.storage, "cannot open storage: \(error)")
        }
        self.logger = configuration.logger
        self.nextTick = configuration.clock.now + configuration.tick
        self.metrics = NodeMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, nodeID: configuration.id)
        self.logger[metadataKey: "raft.node_id"] = "\(configuration.id)"
        let stable = self.storage.stable.state
        if let stored = stable.nodeID, stored != configuration.id {
            self.storage.close()
            throw RaftError(
                .invalidConfiguration,
                "the data directory \(configuration.resolvedDataDirectory) belongs to node \(stored), not \(configuration.id)")
        }
        if configuration.isVoter { self.voters.insert(configuration.id) } else { self.learners.insert(configuration.id) }
    }

    // MARK: - Running

    mutating func run() async throws {
        defer {
            self.storage.close()
            self.blockingWork.shutdown()
        }
        do {
            try await self.runEvents()
        } catch {
            await self.snapshotTask?.value  // never close the stores under a snapshot being written
            throw error
        }
        await self.snapshotTask?.value
    }

    private mutating func runEvents() async throws {
        if let membership = self.storage.stable.state.configuration {
            // A restarted node resumes from disk, whatever the configuration says about peers.
            try await self.startCore(membership: membership)
        } else {
            try await self.maybeStartCore()  // a node without peers needs no discovery
        }
        self.publish()
        for await _ in self.node.wakeups {
            // Peer messages first (acknowledgements that arrived while this loop was starved keep
            // a leader from deposing itself), then time, then requests: a read that waited while
            // this process was paused is judged at now.
            let (messages, others) = self.node.takePending().partitioned { if case .message = $0 { true } else { false } }
            for event in messages { try await self.handle(event) }
            self.catchUpTicks()
            for event in others { try await self.handle(event) }
            try await self.processReady()
            self.settleTransfers()
            self.advanceMembership()
            self.learnAddresses()
            self.publish()
            if self.stopping, self.readyToStop() { break }
        }
        await self.failAll(RaftError(.shuttingDown, "the node stopped"))
    }

    /// A stopping leader waits (briefly) until leadership moved on.
    func readyToStop() -> Bool {
        guard let core = self.core, core.role == .leader, core.configuration.voters.count > 1 else { return true }
        return ContinuousClock.now >= self.stopDeadline!
    }

    mutating func failAll(_ error: RaftError) async {
        for event in self.node.takePending(close: true) { RaftNode.fail(event, error) }
        // A proposal in the log may still commit under the next leader: its outcome is unknown.
        let unknown = RaftError(.timedOut, "\(error.message); the command may or may not be applied")
        for (_, waiting) in self.proposals { for proposal in waiting { proposal.continuation.resume(returning: .failure(unknown)) } }
        self.proposals = [:]
        for (_, read) in self.readsWaitingForIndex { read.continuation.resume(returning: .failure(error)) }
        self.readsWaitingForIndex = [:]
        for read in self.readsWaitingForApply { read.continuation.resume(returning: .failure(error)) }
        self.readsWaitingForApply = []
        for transfer in self.transfers { transfer.continuation.resume(returning: .failure(error)) }
        self.transfers = []
        if let operation = self.membershipOperation {
            let code: RaftError.Code = operation.awaiting != nil || operation.committedAny ? .timedOut : error.code
            operation.continuation.resume(returning: .failure(RaftError(code, "\(error.message); membership change \(operation.change)\(code == .timedOut ? " may or may not be complete" : " not applied")")))
            self.membershipOperation = nil
        }
    }

    mutating func handle(_ event: RaftNode.Event) async throws {
        switch event {
        case .tick:
            self.expireWaiters()  // the batch already caught up on ticks: this event only woke the loop
        case .message(let message, let snapshot):
            guard self.core != nil else { return }
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
            if message.term >= (self.core?.term ?? 0), self.isFromLeader(message) { self.lastLeaderContact = .now }
            self.lastHeard[message.from] = .now
            self.core!.step(message)
        case .discovered(let address, let info):
            self.addresses[info.id] = address
            if info.isVoter { self.voters.insert(info.id) } else { self.learners.insert(info.id) }
            try await self.maybeStartCore()
        case .propose(let command, let deadline, let continuation):
            self.propose(command, deadline: deadline, continuation)
        case .read(let query, let consistency, let deadline, let continuation):
            self.read(query, consistency: consistency, deadline: deadline, continuation)
        case .bootstrap(let continuation):
            try await self.bootstrap(continuation)
        case .learnedAddress(let id, let address):
            if self.addresses[id] == nil { self.addresses[id] = address }
        case .membership(let change, let deadline, let continuation):
            self.changeMembership(change, deadline: deadline, continuation)
        case .transfer(let target, let deadline, let continuation):
            self.transferLeadership(to: target, deadline: deadline, continuation)
        case .snapshotWritten(let metadata, let failure):
            try await self.finishSnapshot(metadata, failure: failure)
        case .stop:
            self.beginStop()
        }
    }

    /// Feeds the core every tick that elapsed by the clock: a paused or starved process must not
    /// count one tick for a second that passed (its lease would outlive the followers' patience).
    /// After a longer pause it ticks one election timeout's worth — enough to end any lease and
    /// let check-quorum judge the leader once — and skips the rest.
    mutating func catchUpTicks() {
        let configuration = self.node.configuration
        let now = configuration.clock.now
        var ticks = 0
        let limit = configuration.electionTicks
        while self.nextTick <= now, ticks < limit {
            self.core?.tick()
            self.nextTick += configuration.tick
            ticks += 1
        }
        if self.nextTick <= now { self.nextTick = now + configuration.tick }
    }

    func isFromLeader(_ message: Message) -> Bool {
        switch message.body {
        case .append, .heartbeat, .installSnapshot: true
        default: false
        }
    }

    // MARK: - Start-up and discovery

    /// A fresh node starts its core once it knows every peer and at least `minimumClusterSize` voters.
    mutating func maybeStartCore() async throws {
        guard self.core == nil else { return }
        let configuration = self.node.configuration
        let membership: ClusterConfiguration
        if configuration.join || configuration.waitForBootstrap {
            // A joining node (or one waiting for a bootstrap call) starts outside the configuration
            // and learns it from the leader's log.
            membership = ClusterConfiguration()
        } else {
            guard self.addresses.count == self.node.peerAddresses.count,
                self.voters.count >= configuration.minimumClusterSize
            else { return }
            var addresses = self.addresses
            addresses[configuration.id] = self.node.address
            membership = ClusterConfiguration(voters: self.voters, learners: self.learners, addresses: addresses)
        }
        do {
            try self.storage.stable.save(StableState(nodeID: configuration.id, configuration: membership))
        } catch {
            throw RaftError(.storage, "cannot persist the cluster membership: \(error)")
        }
        try await self.startCore(membership: membership)
        self.logger.debug("cluster membership known, starting", metadata: ["raft.members": "\(membership.members)"])
    }

    mutating func startCore(membership: ClusterConfiguration) async throws {
        let configuration = self.node.configuration
        var options = RawNode.Configuration(id: configuration.id)
        options.preVote = configuration.preVote
        options.maxAppendEntries = configuration.maxAppendEntries
        options.electionTimeout = configuration.electionTicks
        options.heartbeatInterval = configuration.heartbeatTicks
        // Leases stay safe while clocks run up to 20 % apart.
        options.leaseDriftMargin = RawNode.Configuration.leaseDriftMargin(electionTimeout: configuration.electionTicks)
        options.randomSeed = UInt64.random(in: 0...UInt64.max)
        do {
            let snapshot = try await self.restoreNewestSnapshot()
            let state = try self.reconcile(snapshot: snapshot)
            self.core = try RawNode(configuration: options, membership: membership, restoring: state)
            self.applied = snapshot?.index ?? 0
            self.lastSnapshotIndex = self.applied
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot restore from \(configuration.resolvedDataDirectory): \(error)")
        }
        if membership.voters.count == 1, membership.voters.contains(configuration.id) {
            self.core!.campaign()  // a single-server cluster leads at once
        }
    }
}
