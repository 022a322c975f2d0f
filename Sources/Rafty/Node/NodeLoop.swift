import CoreMetrics
import Logging
import RaftCore
import Synchronization

/// The executor around a node's ``NodeEngine``: owns storage, the state machine calls, snapshot
/// tasks and the callers waiting for answers, feeds the engine its inputs with the clock's `now`
/// and carries out the actions it returns. Only the loop task touches it.
///
/// Until the cluster membership is known (peer discovery), there is no engine: requests are
/// answered "no leader" and peer messages dropped.
struct NodeLoop {
    typealias Waiter = CheckedContinuation<RaftNode.Answer, Never>

    let node: RaftNode
    let storage: RaftStorage
    var logger: Logger
    /// Set once, by ``startEngine(membership:)`` (which sets ``hasEngine`` with it).
    var engine: NodeEngine?
    /// Whether ``engine`` is set. The loop asks on every iteration, and `self.engine != nil` in
    /// an async function copied the whole engine (every field retained and released: `perf`).
    private(set) var hasEngine = false
    /// Peers discovered before the engine starts: id → address, and whether they vote.
    var addresses: [NodeID: String] = [:]
    var peerRoles: [NodeID: Bool] = [:]
    /// The data-directory incarnations discovery learned (recorded in the first membership).
    var peerIncarnations: [NodeID: UInt64] = [:]
    /// The incarnations last taken from the configuration into the identity.
    var recordedIncarnations: [NodeID: UInt64] = [:]
    /// The metrics, handed to the engine when it starts.
    var metrics: NodeMetrics
    var stopping = false
    /// Callers waiting for the engine's answer.
    var waiters: [RequestID: Waiter] = [:]
    var nextRequest: RequestID = 1
    /// The task writing the state machine's snapshot.
    var snapshotTask: Task<Void, Never>?
    /// When a slow persist or apply was last logged (rate limit).
    var lastSlowWarning: ContinuousClock.Instant?
    /// Runs snapshot writes, reads and restores, off the cooperative pool.
    let blockingWork = DedicatedThreadExecutor()
    /// Reads commands back from the log store for sends and applies. The loop waits for them, so
    /// they must not queue behind a snapshot write of seconds on `blockingWork` (a leader that
    /// waited so sent no heartbeat and lost its lead while writing a 1 GiB snapshot).
    let logReads = DedicatedThreadExecutor()
    /// Runs the WAL's appends and fsyncs: a thread of the two-thread cooperative pool blocked in
    /// `fdatasync` held up the HTTP handlers and the peer streams meanwhile.
    let walWrites = DedicatedThreadExecutor()
    /// The committed membership last seen: members that leave it are forgotten by the identity,
    /// and their connections closed.
    var committedMembers: Set<NodeID> = []
    var committedAddresses: [NodeID: String] = [:]

    init(node: RaftNode) throws {
        self.node = node
        let configuration = node.configuration
        do {
            if let makeStorage = configuration.makeStorage {
                self.storage = try makeStorage()
            } else {
                self.storage =
                    configuration.persistDataOnDisk
                    ? try RaftStorage.open(dataDirectory: configuration.resolvedDataDirectory)
                    : try RaftStorage.inMemory()
            }
        } catch {
            throw RaftError(.storage, "cannot open storage: \(error)", cause: error)
        }
        self.logger = configuration.logger
        self.metrics = NodeMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, nodeID: configuration.id)
        self.logger[metadataKey: "raft.node_id"] = "\(configuration.id)"
        let stable = self.storage.stable.state
        if let stored = stable.nodeID, stored != configuration.id {
            self.storage.close()
            throw RaftError(
                .invalidConfiguration,
                "the data directory \(configuration.resolvedDataDirectory) belongs to node \(stored), not \(configuration.id)")
        }
        if let membership = stable.configuration {
            self.committedMembers = Set(membership.members)
            self.committedAddresses = membership.addresses
        }
        node.identityStore.withLock { [identity = self.storage.identity] in $0 = identity }
        node.snapshotStore.withLock { [snapshots = self.storage.snapshots] in $0 = snapshots }
    }

    var now: ContinuousClock.Instant { self.node.configuration.clock.now }

    // MARK: - Running

    mutating func run() async throws {
        defer {
            self.node.identityStore.withLock { $0 = nil }
            self.node.snapshotStore.withLock { $0 = nil }
            self.storage.close()
            self.blockingWork.shutdown()
            self.logReads.shutdown()
            self.walWrites.shutdown()
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
            try await self.startEngine(membership: membership)
        } else {
            try await self.maybeStartEngine()  // a node without peers needs no discovery
        }
        self.publish()
        for await _ in self.node.wakeups {
            var events = self.node.takePending()[...]
            while !self.hasEngine, let event = events.popFirst() { try await self.discover(event) }
            if self.hasEngine, !events.isEmpty || (self.stopping && !self.engine!.stopping) {
                // A stop that arrived before the engine started reaches it first.
                let inputs = (self.stopping && !self.engine!.stopping ? [NodeInput.stop] : []) + events.map { self.input(for: $0) }
                self.engine!.incarnations = self.knownIncarnations
                try await self.execute(self.engine!.handle(inputs, now: self.now))
            }
            self.publish()
            if self.stopping, !self.hasEngine || self.engine!.readyToStop(now: self.now) { break }
        }
        await self.failAll(RaftError(.shuttingDown, "the node stopped"))
    }

    /// Answers every waiting caller and every queued event as the node stops or fails.
    mutating func failAll(_ error: RaftError) async {
        for event in self.node.takePending(close: true) { RaftNode.fail(event, error) }
        if self.hasEngine {
            for action in self.engine!.failAll(error) {
                if case .answer(let request, let answer) = action { self.waiters.removeValue(forKey: request)?.resume(returning: answer) }
            }
        }
        for waiter in self.waiters.values { waiter.resume(returning: .failure(error)) }
        self.waiters = [:]
    }

    /// Registers the caller of a request and turns the event into the engine's input.
    mutating func input(for event: RaftNode.Event) -> NodeInput {
        func request(_ kind: NodeRequest, _ deadline: ContinuousClock.Instant, _ waiter: Waiter) -> NodeInput {
            let id = self.nextRequest
            self.nextRequest += 1
            self.waiters[id] = waiter
            return .request(id, kind, deadline: deadline)
        }
        switch event {
        case .tick: return .tick
        case .message(let message, let snapshot): return .message(message, snapshot: snapshot)
        case .discovered(let address, let info): return .discovered(address: address, info)
        case .propose(let command, let deadline, let waiter): return request(.propose(command), deadline, waiter)
        case .read(let query, let consistency, let deadline, let waiter): return request(.read(query, consistency), deadline, waiter)
        case .transfer(let target, let deadline, let waiter): return request(.transfer(to: target), deadline, waiter)
        case .membership(let change, let deadline, let waiter): return request(.membership(change), deadline, waiter)
        case .bootstrap(let waiter): return request(.bootstrap, self.now, waiter)
        case .learnedAddress(let id, let address): return .learnedAddress(id: id, address: address)
        case .snapshotWritten(let metadata, let failure):
            self.snapshotTask = nil
            return .snapshotWritten(metadata, failure: failure)
        case .snapshotSent(let peer, let index, let delivered): return .snapshotSent(to: peer, index: index, delivered: delivered)
        case .stop:
            self.stopping = true
            return .stop
        }
    }

    // MARK: - Start-up and discovery

    /// An event that arrives before the membership is known.
    mutating func discover(_ event: RaftNode.Event) async throws {
        switch event {
        case .discovered(let address, let info):
            self.addresses[info.id] = address
            self.peerRoles[info.id] = info.isVoter
            self.peerIncarnations[info.id] = info.credentials.incarnation
            try await self.maybeStartEngine()
        case .learnedAddress(let id, let address):
            if self.addresses[id] == nil { self.addresses[id] = address }
        case .stop:
            self.stopping = true
        case .propose(_, _, let waiter), .read(_, _, _, let waiter), .transfer(_, _, let waiter), .membership(_, _, let waiter),
            .bootstrap(let waiter):
            waiter.resume(
                returning: .failure(
                    self.stopping
                        ? RaftError(.shuttingDown, "node \(self.node.configuration.id) is stopping")
                        : RaftError(.noLeader, "no leader is known; the request was not applied")))
        case .tick, .message, .snapshotWritten, .snapshotSent:
            break
        }
    }

    /// A fresh node starts once it knows every peer and at least `minimumClusterSize` voters.
    mutating func maybeStartEngine() async throws {
        guard !self.hasEngine else { return }
        let configuration = self.node.configuration
        let membership: ClusterConfiguration
        if configuration.startMode != .form {
            // A joining node (or one waiting for a bootstrap call) starts outside the configuration
            // and learns it from the leader's log.
            membership = ClusterConfiguration()
        } else {
            var voters: Set<NodeID> = []
            var learners: Set<NodeID> = []
            if configuration.isVoter { voters.insert(configuration.id) } else { learners.insert(configuration.id) }
            for (peer, isVoter) in self.peerRoles {
                if isVoter { voters.insert(peer) } else { learners.insert(peer) }
            }
            guard self.addresses.count == self.node.peerAddresses.count, voters.count >= configuration.minimumClusterSize else { return }
            var addresses = self.addresses
            addresses[configuration.id] = self.node.address
            // Every node of the formation records the same incarnations (each its own, and what
            // discovery told it of the others), so none counts a member whose data was replaced.
            var incarnations = self.peerIncarnations
            incarnations[configuration.id] = self.storage.identity.identity.incarnation
            membership = ClusterConfiguration(voters: voters, learners: learners, addresses: addresses, incarnations: incarnations)
        }
        do {
            try self.formCluster(membership)
            try self.storage.stable.save(StableState(nodeID: configuration.id, configuration: membership))
        } catch {
            throw RaftError(.storage, "cannot persist the cluster membership: \(error)", cause: error)
        }
        self.logger.info("cluster membership known, starting", metadata: ["raft.members": "\(membership.members)"])
        try await self.startEngine(membership: membership)
    }

    /// Gives a node that forms a cluster (from its peers, or by a bootstrap call: called once, when
    /// its first membership is saved) the cluster's id, derived from the token and the first
    /// members so that every node of the formation agrees. It replaces an id adopted from a peer
    /// before: the formation decides which cluster the node is in.
    func formCluster(_ membership: ClusterConfiguration) throws(StorageError) {
        guard !membership.members.isEmpty else { return }  // a joining node learns the id from its peers
        let clusterID = NodeIdentity.clusterID(token: self.node.configuration.clusterToken, members: membership.members)
        try self.storage.identity.update { $0.clusterID = clusterID }
    }

    /// Recovers the stored state and starts the engine over it.
    mutating func startEngine(membership: ClusterConfiguration) async throws {
        let configuration = self.node.configuration
        do {
            let snapshot = try await self.restoreNewestSnapshot()
            let state = try self.reconcile(snapshot: snapshot)
            self.engine = try NodeEngine(
                configuration: configuration, address: self.node.address, peerAddresses: self.node.peerAddresses,
                addresses: self.addresses, peerRoles: self.peerRoles, membership: membership, restoring: state,
                metrics: self.metrics, logger: self.logger, now: self.now, randomSeed: UInt64.random(in: 0...UInt64.max))
            self.hasEngine = true
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot restore from \(configuration.resolvedDataDirectory): \(error)", cause: error)
        }
        // The single-voter campaign (and anything else the start produced).
        try await self.execute(self.engine!.handle([], now: self.now))
    }
}
