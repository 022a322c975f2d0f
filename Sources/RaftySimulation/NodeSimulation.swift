import RaftCore
import Rafty

/// A simulated cluster of the runtime's real node state machine (`NodeEngine`), not a copy of
/// its contract: each node's disk is a set of in-memory stores that survive a crash, the storage
/// steps the engine asks for run one by one (a crash may fall between any two of them), and a
/// restarted node recovers through the runtime's own recovery (``NodeRecovery``). Time is
/// simulated (each node's clock may run up to `clockRateError` fast), so a seed replays exactly.
///
/// Clients send writes, compare-and-sets, linearizable and lease reads to any node; followers
/// forward them to the leader as the runtime does, and the answers travel back. Faults: crashes
/// (also between storage steps), graceful stops with requests in flight, frozen nodes (a stopped
/// or starved process: the clock runs on, inputs queue), isolated nodes and one-way links, lost
/// and late messages, snapshot messages without their bytes, leadership transfers. At the end
/// the client history is checked for linearizability.
package struct NodeSimulation<Workload: SimulationWorkload> {
    /// How long the faults run, and the cluster settles afterwards (milliseconds).
    package var faultMilliseconds: UInt64 = 4_000
    package var settleMilliseconds: UInt64 = 2_000
    package var clockRateError = 0.2
    package var clients = 4
    /// Percentage of peer messages and forwarded answers lost in transit.
    package var lossPercent: UInt64 = 2

    /// What a client does: random operations on random nodes, lease reads always from one node
    /// (it keeps asking a stale leader), or writes always to the newest leader (a client whose
    /// discovery is perfect), given up after a tick so a write stuck at a deposed leader does
    /// not hold it back.
    enum ClientRole {
        case random
        case pinnedReader(NodeID)
        case leaderChaser
    }

    enum Event {
        case wake(NodeID, incarnation: Int)
        case deliver(NodeID, Message, snapshot: [UInt8]?, credentials: PeerCredentials)
        /// A client request arriving at a node; `from` is the node that forwarded it.
        case request(NodeID, op: Int, NodeRequest, from: NodeID?)
        /// The leader's answer to a forwarded request, arriving back at `origin`.
        case reply(origin: NodeID, op: Int, RaftNode.Answer)
        case snapshotWritten(NodeID, incarnation: Int, SnapshotMetadata, [UInt8])
        /// A node's snapshot transfer to `to` is over.
        case snapshotSent(NodeID, incarnation: Int, to: NodeID, index: UInt64, delivered: Bool)
        case clientTurn(Int)
        case fault
        case restart(NodeID)
        case thaw(NodeID)
        case unblock(from: NodeID, to: NodeID)
        /// A client stops waiting for an operation (its outcome is then unknown).
        case giveUp(op: Int)
    }

    /// One node: its disk (survives crashes) and what its process holds (lost in a crash).
    struct Host {
        let id: NodeID
        var log = InMemoryLogStore()
        var stable = InMemoryStableStore()
        var snapshots = try! InMemorySnapshotStore(retainCount: 2)
        /// The disk's identity: its incarnation, and its peers' (see ``NodeIdentity``).
        var identity: NodeIdentity
        /// Its disk was wiped once (it stays refused: the simulation removes no member).
        var wiped = false
        var engine: NodeEngine?
        var machine = Workload.Machine()
        /// The last index the state machine holds.
        var machineIndex: UInt64 = 0
        var incarnation = 0
        /// Local clock rate, in thousandths (1000 = exact).
        var rate: UInt64 = 1000
        var frozen = false
        var queued: [NodeInput] = []
        var queuedRequests: [(op: Int, request: NodeRequest, from: NodeID?)] = []
        /// Callers waiting for the engine: request id → (op, node that forwarded it).
        var waiting: [RequestID: (op: Int, from: NodeID?)] = [:]
        var nextRequest: RequestID = 1
        var crashAtNextPersist = false
        var stopping = false
        /// A snapshot being written (not yet in the store).
        var snapshotInFlight: (metadata: SnapshotMetadata, bytes: [UInt8])?

        init(id: NodeID, incarnation: UInt64) {
            self.id = id
            self.identity = NodeIdentity(clusterID: 1, incarnation: incarnation)
        }
        var isUp: Bool { self.engine != nil }
    }

    /// A client operation: what it is, where its client sent it and whether it finished.
    struct Operation {
        var client: Int
        var request: SimulatedRequest
        var origin: NodeID
        var history: Int
        var done = false
    }

    let seed: UInt64
    let nodeCount: Int
    var rng: SplitMix64
    var now: UInt64 = 0
    let epoch = ContinuousClock.now
    var events = EventQueue<Event>()
    var hosts: [Host]
    var configurations: [RaftNode.Configuration]
    var blocked: Set<[NodeID]> = []
    /// Extra delay on a directed link, in microseconds.
    var slowLinks: [[NodeID]: UInt64] = [:]
    var clientRoles: [ClientRole] = []
    var leaderChasersActive = true
    var workload: Workload
    var history: [SimulatedHistoryEntry] = []
    var operations: [Operation] = []
    var committed: [UInt64: Entry] = [:]
    var leaders: [UInt64: NodeID] = [:]
    var faultsEnd: UInt64 = 0
    /// Whether nodes refuse peers whose disk was wiped (``NodeIdentity``), as the runtime's
    /// transport does; off, a wiped node votes again (tests show what that costs).
    package var identityChecks = true
    /// Whether the faults include one wiped disk per run (at most).
    package var allowWipes = true
    /// Whether configurations record the members' incarnations, as the runtime's do; off, nodes
    /// learn them only from first messages, as clusters formed by older versions do.
    package var recordIncarnations = true
    /// Whether the state machine captures its state for a snapshot at once and applying goes on
    /// while it is written (``StateMachine/snapshotView()``), or applying waits for the write.
    /// Chosen by the seed (half of the runs), without drawing from the generator.
    package var capturesSnapshots: Bool
    package var report: NodeSimulationReport

    static var tick: UInt64 { 10_000 }  // microseconds, as each node's clock counts them
    /// The op number of an operator's membership change (no client waits for it).
    static var membershipRequest: Int { -2 }

    package init(seed: UInt64, nodeCount: Int, workload: Workload) {
        self.seed = seed
        self.workload = workload
        self.nodeCount = nodeCount
        self.rng = SplitMix64(seed: seed)
        self.hosts = (1...UInt64(nodeCount)).map { Host(id: $0, incarnation: $0 &* 1_000_003) }
        self.report = NodeSimulationReport(seed: seed, nodeCount: nodeCount)
        let addresses = (1...UInt64(nodeCount)).map { Self.address(of: $0) }
        self.capturesSnapshots = (seed / 1000) % 2 == 1
        self.configurations = (1...UInt64(nodeCount)).map { id in
            var configuration = RaftNode.Configuration(id: id)
            configuration.address = Self.address(of: id)
            configuration.peers = addresses.filter { $0 != Self.address(of: id) }
            configuration.tickInterval = .microseconds(Self.tick)
            configuration.snapshotThreshold = 25
            configuration.trailingLogs = 5
            configuration.minimumClusterSize = nodeCount
            // Small enough that most runs evict applied commands and read them back for lagging
            // followers (chosen by the seed without drawing from the generator).
            configuration.inMemoryLogBytes = [0, 40, 200, 64 << 20][Int((seed / 1000 + 2) % 4)]
            return configuration
        }
    }

    static func address(of id: NodeID) -> String { "10.0.0.\(id):7000" }
    static func node(at address: String) -> NodeID? {
        guard address.hasPrefix("10.0.0."), let end = address.firstIndex(of: ":") else { return nil }
        return NodeID(address[address.index(address.startIndex, offsetBy: 7)..<end])
    }

    func index(_ id: NodeID) -> Int { Int(id - 1) }

    /// The node's clock: it may run fast by up to `clockRateError`.
    func localNow(_ id: NodeID) -> ContinuousClock.Instant {
        self.epoch + .microseconds(Int64(self.now * self.hosts[self.index(id)].rate / 1000))
    }

    mutating func random(_ range: ClosedRange<UInt64>) -> UInt64 { UInt64.random(in: range, using: &self.rng) }
    mutating func chance(_ percent: UInt64) -> Bool { self.random(0...99) < percent }

    mutating func fail(_ message: String) {
        if self.report.failure == nil { self.report.failure = "at \(self.now / 1000) ms: \(message)" }
    }

    // MARK: - Running

    /// Runs the whole scenario and returns what happened.
    package mutating func run() -> NodeSimulationReport {
        self.clientRoles = Array(repeating: .random, count: self.clients)
        // Small enough that a stalled commit refuses writes: the refusals promise "not applied",
        // which the history check holds them to.
        for index in self.configurations.indices { self.configurations[index].maxUnappliedEntries = 4 }
        self.setUp()
        self.events.push(.fault, at: 300_000)
        self.runEvents(until: self.faultsEnd + self.settleMilliseconds * 1000)
        return self.finish()
    }

    /// Stores every node's initial membership, starts the nodes and the clients.
    /// The membership every node starts from (and a wiped node starts from again).
    /// Discovery tells each node the others' incarnations; a wiped node presents its new one.
    var initialMembership: ClusterConfiguration {
        ClusterConfiguration(
            voters: Set(1...UInt64(self.nodeCount)),
            addresses: Dictionary(uniqueKeysWithValues: (1...UInt64(self.nodeCount)).map { ($0, Self.address(of: $0)) }),
            incarnations: self.recordIncarnations
                ? Dictionary(uniqueKeysWithValues: self.hosts.map { ($0.id, $0.identity.incarnation) }) : [:])
    }

    mutating func setUp() {
        let membership = self.initialMembership
        for index in self.hosts.indices {
            self.hosts[index].rate = 1000 + self.random(0...UInt64(self.clockRateError * 1000))
            try! self.hosts[index].stable.save(StableState(nodeID: self.hosts[index].id, configuration: membership))
            self.start(self.hosts[index].id)
        }
        self.faultsEnd = self.faultMilliseconds * 1000
        for client in self.clientRoles.indices { self.events.push(.clientTurn(client), at: self.random(0...20_000)) }
    }

    /// Handles events in time order up to `time` (or the first failure).
    mutating func runEvents(until time: UInt64) {
        while self.report.failure == nil, let next = self.events.nextTime, next <= time, let (at, event) = self.events.pop() {
            self.now = at
            self.handle(event)
        }
        if self.report.failure == nil { self.now = max(self.now, time) }
    }

    /// Checks the client history for linearizability and returns the report.
    mutating func finish() -> NodeSimulationReport {
        if self.report.failure == nil {
            // Bounded: a history the checker cannot settle within this many states per key is
            // reported as unchecked, not as a failure.
            // What the clients could not know, the simulation does: a command that no node
            // applied did not take effect, so its unknown outcome is a refusal (a search that
            // could apply it anywhere would only be slower, and more lenient).
            var applied: Set<[UInt8]> = []
            for entry in self.committed.values {
                if case .command(let bytes) = entry.payload { applied.insert(bytes) }
            }
            var history = self.history
            for index in history.indices where history[index].outcome == .unknown && !history[index].request.isRead {
                if !applied.contains(history[index].request.bytes) { history[index].outcome = .failed }
            }
            let result = self.workload.check(history, maxStates: 300_000)
            if result.timedOut {
                self.report.uncheckedHistories += 1
            } else if !result.isLinearizable {
                self.fail("the client history is not linearizable: \(result.explanation ?? "")")
            }
        }
        return self.report
    }

    mutating func handle(_ event: Event) {
        switch event {
        case .wake(let id, let incarnation):
            guard self.hosts[self.index(id)].incarnation == incarnation, self.hosts[self.index(id)].isUp else { return }
            self.events.push(.wake(id, incarnation: incarnation), at: self.now + Self.tick * 1000 / self.hosts[self.index(id)].rate)
            self.feed(id, [.tick])
        case .deliver(let id, let message, let snapshot, let credentials):
            // What a node sent before its disk was wiped was durable on the disk it had then.
            if credentials.incarnation == self.hosts[self.index(message.from)].identity.incarnation { self.checkDurable(message) }
            guard self.hosts[self.index(id)].isUp else { return }
            if self.identityChecks,
                self.hosts[self.index(id)].identity.admit(message.from, clusterID: credentials.clusterID, incarnation: credentials.incarnation) != nil
            {
                self.report.refusedMessages += 1
                return
            }
            if case .forwardedProposalsResponse(let response) = message.body, response.accepted > 0, response.firstIndex > 0,
                let engine = self.hosts[self.index(id)].engine, response.firstIndex <= engine.applied
            {
                self.report.lateForwardAnswers += 1  // delivered after the entry applied: answered from recent results
            }
            self.feed(id, [.message(message, snapshot: snapshot.map(ReceivedSnapshot.bytes))])
        case .request(let id, let op, let request, let from):
            self.arrive(at: id, op: op, request, from: from)
        case .reply(let origin, let op, let answer):
            // A forwarded call's answer; the origin's client hears it if the origin is still up.
            guard self.hosts[self.index(origin)].isUp else { return }
            self.clientAnswer(op, answer, forwarded: true)
        case .snapshotWritten(let id, let incarnation, let metadata, let bytes):
            guard self.hosts[self.index(id)].incarnation == incarnation, self.hosts[self.index(id)].isUp,
                self.hosts[self.index(id)].snapshotInFlight?.metadata == metadata
            else { return }
            self.storeLocalSnapshot(id)
            _ = bytes
            self.feed(id, [.snapshotWritten(metadata, failure: nil)])
        case .snapshotSent(let id, let incarnation, let to, let index, let delivered):
            guard self.hosts[self.index(id)].incarnation == incarnation else { return }
            self.feed(id, [.snapshotSent(to: to, index: index, delivered: delivered)])
        case .clientTurn(let client):
            self.clientTurn(client)
        case .fault:
            guard self.now < self.faultsEnd else {
                self.healAll()
                return
            }
            self.injectFault()
            self.events.push(.fault, at: self.now + self.random(100_000...300_000))
        case .restart(let id):
            if !self.hosts[self.index(id)].isUp { self.start(id) }
        case .thaw(let id):
            self.thaw(id)
        case .unblock(let from, let to):
            self.blocked.remove([from, to])
        case .giveUp(let op):
            self.clientAnswer(op, .failure(RaftError(.timedOut, "the client gave up")))
        }
    }

    /// Hands inputs to a node (queued while it is frozen), carries out the actions, checks.
    mutating func feed(_ id: NodeID, _ inputs: [NodeInput]) {
        let index = self.index(id)
        guard self.hosts[index].isUp else { return }
        if self.hosts[index].frozen {
            self.hosts[index].queued.append(contentsOf: inputs.filter { if case .tick = $0 { false } else { true } })
            return
        }
        var known = self.hosts[index].identity.peerIncarnations
        known[id] = self.hosts[index].identity.incarnation
        self.hosts[index].engine!.incarnations = known
        let actions = self.hosts[index].engine!.handle(inputs, now: self.localNow(id))
        self.execute(id, actions)
        guard self.hosts[index].isUp else { return }
        // As NodeLoop does after each batch: the configuration's record is what members must present.
        if self.recordIncarnations, let configuration = self.hosts[index].engine?.core.configuration {
            self.hosts[index].identity.record(configuration, except: id)
        }
        self.checkLeader(id)
        if self.hosts[index].engine!.readyToStop(now: self.localNow(id)) { self.finishStop(id) }
    }

    /// What a message acknowledges must be on its sender's disk by the time it arrives (unless
    /// the sender moved on to a later term since, which may replace entries): a granted vote, and
    /// the entries an append answer reports stored.
    mutating func checkDurable(_ message: Message) {
        let sender = self.hosts[self.index(message.from)]
        let stored = sender.stable.state.hardState
        guard stored.term <= message.term else { return }
        switch message.body {
        case .voteResponse(granted: true):
            if stored.term < message.term || stored.vote != message.to {
                self.fail(
                    "node \(message.from) granted node \(message.to) its vote in term \(message.term); its disk holds term \(stored.term), vote \(stored.vote.map(String.init) ?? "none")"
                )
            }
        case .appendResponse(let response) where !response.rejected:
            let snapshotIndex = sender.log.firstIndex - 1
            if stored.term < message.term || (response.index > snapshotIndex && response.index > sender.log.lastIndex) {
                self.fail(
                    "node \(message.from) acknowledged index \(response.index) in term \(message.term); its disk holds term \(stored.term), entries up to \(sender.log.lastIndex)"
                )
            }
        default:
            break
        }
    }

    mutating func checkLeader(_ id: NodeID) {
        let core = self.hosts[self.index(id)].engine!.core
        guard core.role == .leader else { return }
        if let other = self.leaders[core.term], other != id {
            self.fail("nodes \(other) and \(id) both lead term \(core.term)")
        }
        self.leaders[core.term] = id
    }
}

extension NodeSimulation where Workload == KVWorkload {
    /// A run of the simulation's own key/value workload.
    package init(seed: UInt64, nodeCount: Int) {
        self.init(seed: seed, nodeCount: nodeCount, workload: KVWorkload())
    }
}
