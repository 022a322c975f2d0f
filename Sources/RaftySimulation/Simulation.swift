public import RaftCore

/// A deterministic simulated Raft cluster: nodes driving `RawNode` over a simulated clock,
/// network and disks, with fault injection and safety checks after every step.
///
/// Everything random derives from ``SimulationOptions/seed``, and no collection with a
/// per-process iteration order decides what happens next, so a seed replays exactly.
public struct Simulation: Sendable {
    enum Event: Sendable {
        case tick(NodeID, incarnation: Int)
        case deliver(Message, snapshot: [UInt8]?)
        case clientStep(client: Int)
        case clientTimeout(op: Int)
        case thaw(NodeID, incarnation: Int)
    }

    /// The options the cluster was built with.
    public internal(set) var options: SimulationOptions
    /// Current simulated time.
    public internal(set) var now: UInt64 = 0
    /// Events processed so far.
    public internal(set) var steps = 0
    /// The first safety violation found, if any; the simulation stops processing events after it.
    public internal(set) var failure: SimulationFailure?

    var rng: SplitMix64
    var nodes: [SimulatedNode]
    var queue = EventQueue<Event>()
    /// Directed links that drop every message (partitions, one-way or symmetric).
    var blockedLinks: Set<Link> = []
    /// Directed links that hold every message back by this much more time (acknowledgements that
    /// arrive after later heartbeats were sent).
    var slowLinks: [Link: UInt64] = [:]
    /// The configuration the cluster was bootstrapped with (the initial voters' base configuration).
    public let initialConfiguration: ClusterConfiguration

    // Checker state: what every node must agree on.
    var leaderOfTerm: [UInt64: NodeID] = [:]
    /// Every entry ever persisted, by (index, term): its payload and the term before it.
    var entryRegistry: [EntryKey: (payload: Entry.Payload, previousTerm: UInt64)] = [:]
    /// The committed log as first learned: index -> entry.
    var committedLog: [UInt64: Entry] = [:]
    /// The lowest term in which any node knew each index committed.
    var commitTerm: [UInt64: UInt64] = [:]
    var highestCommitted: UInt64 = 0
    /// State machine contents after applying each index (compared across nodes and snapshots).
    var stateAfterIndex: [UInt64: [UInt8]] = [:]
    var durableTerm: [NodeID: UInt64] = [:]
    var durableCommit: [NodeID: UInt64] = [:]
    /// Committed configuration entries, ascending by index (learned as entries commit).
    var committedConfigurations: [(index: UInt64, configuration: ClusterConfiguration)] = []
    /// Snapshots each node installed from a leader.
    var installedSnapshots: [NodeID: Int] = [:]

    // Client workload state.
    var history = HistoryRecorder()
    var operationNode: [Int: NodeID] = [:]
    var operationOutcome: [Int: KVOutcome] = [:]
    var clients: [ClientState] = []
    var operationClient: [Int: Int] = [:]
    var workloadKeys = 3
    var nextValue = 1
    var sentMessageCount = 0

    struct Link: Hashable, Sendable {
        var from: NodeID
        var to: NodeID
    }

    struct EntryKey: Hashable, Sendable {
        var index: UInt64
        var term: UInt64
    }

    /// Builds a cluster of fresh nodes and starts their clocks.
    public init(options: SimulationOptions) {
        self.options = options
        self.rng = SplitMix64(seed: options.seed)
        self.initialConfiguration = ClusterConfiguration(voters: Set(options.initialVoterIDs))
        self.nodes = []
        for id in 1...UInt64(options.nodeCount) {
            let skew = Double.random(in: -options.clockSkew...options.clockSkew, using: &self.rng)
            let rate = options.clockRateError > 0 ? Double.random(in: 0...options.clockRateError, using: &self.rng) : 0
            let interval = max(1, UInt64((Double(options.tickInterval) * (1 + skew) * (1 + rate)).rounded()))
            self.nodes.append(SimulatedNode(id: id, tickInterval: interval))
        }
        for id in self.nodeIDs { self.boot(id) }
    }

    /// The ids of all nodes, ascending.
    public var nodeIDs: [NodeID] { self.nodes.map(\.id) }

    /// The core of a running node (nil while it is crashed).
    public func core(_ id: NodeID) -> RawNode? { self.nodes[Int(id - 1)].core }

    /// How far a node's state machine has applied.
    public func appliedIndex(_ id: NodeID) -> UInt64 { self.nodes[Int(id - 1)].applied }

    /// A node's state machine contents.
    public func stateMachine(_ id: NodeID) -> KVStateMachine { self.nodes[Int(id - 1)].stateMachine }

    /// The committed entry at `index`, as first committed anywhere.
    public func committedEntry(at index: UInt64) -> Entry? { self.committedLog[index] }

    /// The highest index known committed anywhere.
    public var highestCommittedIndex: UInt64 { self.highestCommitted }

    // MARK: - Running

    /// Processes events until simulated time reaches `time` (or a violation stops the run).
    public mutating func run(until time: UInt64) {
        while self.failure == nil, let next = self.queue.nextTime, next <= time {
            let (eventTime, event) = self.queue.pop()!
            self.now = eventTime
            self.steps += 1
            self.handle(event)
        }
        if self.failure == nil { self.now = max(self.now, time) }
    }

    /// Runs for `ticks` nominal ticks.
    public mutating func run(ticks: Int) {
        self.run(until: self.now + UInt64(ticks) * self.options.tickInterval)
    }

    mutating func handle(_ event: Event) {
        switch event {
        case .tick(let id, let incarnation):
            let index = Int(id - 1)
            guard self.nodes[index].isUp, self.nodes[index].incarnation == incarnation else { return }
            if self.nodes[index].frozen {
                self.nodes[index].missedTicks += 1
                self.queue.push(.tick(id, incarnation: incarnation), at: self.now + self.nodes[index].tickInterval)
                return
            }
            self.nodes[index].core!.tick()
            self.queue.push(.tick(id, incarnation: incarnation), at: self.now + self.nodes[index].tickInterval)
            self.processReady(id)
        case .deliver(let message, let snapshot):
            let index = Int(message.to - 1)
            guard index >= 0, index < self.nodes.count, self.nodes[index].isUp,
                !self.blockedLinks.contains(Link(from: message.from, to: message.to))
            else { return }
            if self.nodes[index].frozen {
                self.nodes[index].frozenMessages.append((message, snapshot))
                return
            }
            self.stepMessage(message, snapshot: snapshot)
        case .clientStep(let client):
            self.clientStep(client)
        case .clientTimeout(let op):
            self.resolve(op, .unknown)
            self.clientFinished(op: op)
        case .thaw(let id, let incarnation):
            self.thaw(id, incarnation: incarnation)
        }
    }

    mutating func stepMessage(_ message: Message, snapshot: [UInt8]?) {
        let index = Int(message.to - 1)
        if case .installSnapshot(let metadata) = message.body, let snapshot {
            self.nodes[index].inboundSnapshots[metadata.index] = snapshot
        }
        self.nodes[index].core!.step(message)
        self.processReady(message.to)
    }

    /// A thawed node does what the runtime does after a pause: it handles the peer messages that
    /// queued, then feeds the core the ticks that elapsed (at most an election timeout's worth,
    /// which ends any lease), and only then the client requests that waited.
    mutating func thaw(_ id: NodeID, incarnation: Int) {
        let index = Int(id - 1)
        guard self.nodes[index].isUp, self.nodes[index].incarnation == incarnation, self.nodes[index].frozen else { return }
        self.nodes[index].frozen = false
        let messages = self.nodes[index].frozenMessages
        let requests = self.nodes[index].frozenRequests
        let ticks = min(self.nodes[index].missedTicks, self.options.electionTimeout)
        self.nodes[index].frozenMessages = []
        self.nodes[index].frozenRequests = []
        self.nodes[index].missedTicks = 0
        for (message, snapshot) in messages where self.failure == nil && self.nodes[index].isUp {
            self.stepMessage(message, snapshot: snapshot)
        }
        guard self.failure == nil, self.nodes[index].isUp else { return }
        for _ in 0..<ticks { self.nodes[index].core!.tick() }
        self.processReady(id)
        for request in requests where self.failure == nil {
            self.submit(request.op, request.operation, to: id, client: request.client)
        }
    }

    // MARK: - Faults

    /// Crashes a node: it loses everything but its disk; messages to it are dropped until it restarts.
    public mutating func crash(_ id: NodeID) {
        let index = Int(id - 1)
        guard self.nodes[index].isUp else { return }
        for (_, pending) in self.nodes[index].pendingProposals.sorted(by: { $0.key < $1.key }) {
            for proposal in pending { self.resolve(proposal.op, .unknown) }
        }
        for (_, read) in self.nodes[index].pendingReads.sorted(by: { $0.key < $1.key }) { self.resolve(read.op, .failed) }
        for read in self.nodes[index].confirmedReads { self.resolve(read.op, .failed) }
        for request in self.nodes[index].frozenRequests {
            self.resolve(request.op, .failed)
            self.clientFinished(op: request.op)
        }
        var node = self.nodes[index]
        node.frozen = false
        node.missedTicks = 0
        node.frozenMessages = []
        node.frozenRequests = []
        node.core = nil
        node.leadership = nil
        node.stateMachine = KVStateMachine()
        node.applied = 0
        node.pendingProposals = [:]
        node.pendingReads = [:]
        node.confirmedReads = []
        node.inboundSnapshots = [:]
        node.crashBeforePersist = false
        self.nodes[index] = node
    }

    /// Arranges for a node to crash in the middle of its next Ready that must be persisted: after
    /// sending the messages that may precede persistence, before anything reaches its disk.
    public mutating func crashBeforeNextPersist(_ id: NodeID) {
        if self.nodes[Int(id - 1)].isUp { self.nodes[Int(id - 1)].crashBeforePersist = true }
    }

    /// Whether a node is running (and not about to crash before its next persist).
    public func isHealthy(_ id: NodeID) -> Bool {
        self.nodes[Int(id - 1)].isUp && !self.nodes[Int(id - 1)].crashBeforePersist
    }

    /// Cancels a crash arranged by ``crashBeforeNextPersist(_:)``.
    public mutating func cancelPendingCrash(_ id: NodeID) {
        self.nodes[Int(id - 1)].crashBeforePersist = false
    }

    /// Restarts a crashed node from its disk.
    public mutating func restart(_ id: NodeID) {
        guard !self.nodes[Int(id - 1)].isUp else { return }
        self.nodes[Int(id - 1)].incarnation += 1
        self.boot(id)
    }

    mutating func boot(_ id: NodeID) {
        let index = Int(id - 1)
        var node = self.nodes[index]
        var configuration = self.options.coreConfiguration(for: id)
        configuration.randomSeed &+= UInt64(node.incarnation) &* 0x5851_F42D_4C95_7F2D
        let state = RawNode.PersistentState(
            hardState: node.disk.hardState, snapshot: node.disk.snapshot, entries: node.disk.entries)
        do {
            // A slot outside the initial configuration starts (and restarts) with an empty base
            // configuration: it learns the real one from the leader's log or snapshot.
            let base = self.initialConfiguration.contains(id) ? self.initialConfiguration : ClusterConfiguration()
            node.core = try RawNode(configuration: configuration, membership: base, restoring: state)
        } catch {
            self.fail("node \(id) cannot restart from its disk: \(error)")
            return
        }
        if let snapshot = node.disk.snapshot {
            guard let machine = try? KVStateMachine(snapshot: node.disk.snapshotData) else {
                self.fail("node \(id) has an unreadable snapshot")
                return
            }
            node.stateMachine = machine
            node.applied = snapshot.index
        } else {
            node.stateMachine = KVStateMachine()
            node.applied = 0
        }
        node.highestTerm = node.disk.hardState.term
        node.highestCommit = 0
        self.nodes[index] = node
        self.queue.push(.tick(id, incarnation: node.incarnation), at: self.now + node.tickInterval)
    }

    /// Freezes a running node for `ticks` nominal ticks, as a stopped (SIGSTOP) or starved process:
    /// its clock runs on, but it handles nothing until it thaws.
    public mutating func freeze(_ id: NodeID, ticks: Int) {
        let index = Int(id - 1)
        guard self.nodes[index].isUp, !self.nodes[index].frozen else { return }
        self.nodes[index].frozen = true
        self.queue.push(
            .thaw(id, incarnation: self.nodes[index].incarnation), at: self.now + UInt64(ticks) * self.options.tickInterval)
    }

    /// Holds every message from `from` to `to` back by `ticks` more nominal ticks.
    public mutating func slowLink(from: NodeID, to: NodeID, ticks: Int) {
        self.slowLinks[Link(from: from, to: to)] = UInt64(ticks) * self.options.tickInterval
    }

    /// Cuts a node off from every other node, both ways.
    public mutating func isolate(_ id: NodeID) {
        for other in self.nodeIDs where other != id {
            self.blockedLinks.insert(Link(from: id, to: other))
            self.blockedLinks.insert(Link(from: other, to: id))
        }
    }

    /// Reconnects a node to every node that is not itself isolated from it by another partition.
    public mutating func reconnect(_ id: NodeID) {
        self.blockedLinks = self.blockedLinks.filter { $0.from != id && $0.to != id }
    }

    /// Splits the cluster into groups that cannot talk to each other.
    public mutating func partition(_ groups: [[NodeID]]) {
        self.blockedLinks = []
        for (i, group) in groups.enumerated() {
            for (j, other) in groups.enumerated() where i != j {
                for a in group { for b in other { self.blockedLinks.insert(Link(from: a, to: b)) } }
            }
        }
    }

    /// Drops every message from `from` to `to` (but not the other way).
    public mutating func blockOneWay(from: NodeID, to: NodeID) {
        self.blockedLinks.insert(Link(from: from, to: to))
    }

    /// Heals every partition.
    public mutating func healNetwork() {
        self.blockedLinks = []
        self.slowLinks = [:]
    }

    // MARK: - Sending

    mutating func send(_ message: Message) {
        self.sentMessageCount += 1
        guard !self.blockedLinks.contains(Link(from: message.from, to: message.to)) else { return }
        if Double.random(in: 0..<1, using: &self.rng) < self.options.messageLoss { return }
        var snapshot: [UInt8]?
        if case .installSnapshot(let metadata) = message.body {
            let sender = self.nodes[Int(message.from - 1)]
            // The transport streams the sender's stored snapshot; if it was replaced meanwhile, the send fails.
            guard sender.disk.snapshot?.index == metadata.index else { return }
            snapshot = sender.disk.snapshotData
        }
        let copies = Double.random(in: 0..<1, using: &self.rng) < self.options.duplication ? 2 : 1
        for _ in 0..<copies {
            var delay =
                UInt64.random(in: self.options.minDelay...self.options.maxDelay, using: &self.rng)
                + self.slowLinks[Link(from: message.from, to: message.to), default: 0]
            if Double.random(in: 0..<1, using: &self.rng) < self.options.longDelay {
                delay += UInt64.random(in: 0...(10 * self.options.tickInterval), using: &self.rng)
            }
            self.queue.push(.deliver(message, snapshot: snapshot), at: self.now + delay)
        }
    }

    mutating func fail(_ message: String) {
        if self.failure == nil {
            self.failure = SimulationFailure(message: message, seed: self.options.seed, time: self.now, step: self.steps)
        }
    }
}

extension Simulation {
    /// One line per node: role, term, vote, leader, log and commit positions (for failure reports).
    public func describeNodes() -> String {
        self.nodes.map { node in
            guard let core = node.core else { return "node \(node.id): down" }
            let status = core.status
            return "node \(node.id): \(status.role) term \(status.term) vote \(status.vote.map(String.init) ?? "-") "
                + "leader \(status.leader.map(String.init) ?? "-") last \(status.lastIndex)/t\(core.term(at: status.lastIndex) ?? 0) "
                + "commit \(status.commitIndex) applied \(node.applied) \(describe(status.configuration))"
        }.joined(separator: "\n")
    }
}
