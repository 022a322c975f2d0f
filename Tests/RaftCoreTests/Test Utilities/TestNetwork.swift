@testable import RaftCore

/// The kind of a message, without its fields (for filters and assertions).
enum MessageKind: Sendable, Hashable, CaseIterable {
    case preVote, preVoteResponse, vote, voteResponse, append, appendResponse, heartbeat, heartbeatResponse
    case installSnapshot, timeoutNow, readIndex, readIndexResponse, forwardedProposals, forwardedProposalsResponse
}

extension Message {
    var kind: MessageKind {
        switch self.body {
        case .preVote: .preVote
        case .preVoteResponse: .preVoteResponse
        case .vote: .vote
        case .voteResponse: .voteResponse
        case .append: .append
        case .appendResponse: .appendResponse
        case .heartbeat: .heartbeat
        case .heartbeatResponse: .heartbeatResponse
        case .installSnapshot: .installSnapshot
        case .timeoutNow: .timeoutNow
        case .readIndex: .readIndex
        case .readIndexResponse: .readIndexResponse
        case .forwardedProposals: .forwardedProposals
        case .forwardedProposalsResponse: .forwardedProposalsResponse
        }
    }

    /// The append request this message carries, if it is one.
    var appendRequest: AppendRequest? {
        if case .append(let request) = self.body { return request }
        return nil
    }

    /// The append response this message carries, if it is one.
    var appendResponse: AppendResponse? {
        if case .appendResponse(let response) = self.body { return response }
        return nil
    }

    /// Whether this is a granted vote or pre-vote response.
    var grantsVote: Bool? {
        switch self.body {
        case .voteResponse(let granted), .preVoteResponse(let granted): granted
        default: nil
        }
    }
}

/// A directed link between two nodes.
struct Link: Sendable, Hashable {
    var from: NodeID
    var to: NodeID
}

/// What the host of one node made durable.
struct NodeStorage: Sendable, Hashable {
    var hardState = HardState()
    var snapshot: SnapshotMetadata?
    /// The state machine captured with `snapshot`: every entry applied up to its index.
    var snapshotData: [Entry] = []
    /// Stored entries (those at or below the snapshot index are ignored on restart).
    var entries: [Entry] = []

    init(_ state: RawNode.PersistentState = RawNode.PersistentState()) {
        self.hardState = state.hardState
        self.snapshot = state.snapshot
        self.entries = state.entries
    }

    var persistentState: RawNode.PersistentState {
        RawNode.PersistentState(hardState: self.hardState, snapshot: self.snapshot, entries: self.entries)
    }
}

/// A deterministic in-memory cluster of ``RawNode``s in the style of etcd's raft_test.go `network`.
///
/// Every node has a host: ``processReady(_:)`` carries out its `Ready` in the documented order
/// (messages out, persist snapshot / entries / hard state, persisted messages out, apply committed
/// entries, collect reads, advance). Messages go to one FIFO queue; nothing is delivered unless a
/// test asks (``deliver(_:)``, ``deliverQueued(where:)``, ``stabilize()``), and delivery honours
/// the filters (``cut(_:_:)``, ``drop(from:to:)``, ``isolate(_:)``, ``ignore(_:)``, ``recover()``).
/// Every iteration over nodes is in sorted id order.
struct TestNetwork {
    private(set) var configurations: [NodeID: RawNode.Configuration] = [:]
    /// Running nodes (a stopped node is absent; its storage stays).
    var nodes: [NodeID: RawNode] = [:]
    var storage: [NodeID: NodeStorage] = [:]
    /// Each node's state machine: the entries it applied (restored from snapshots, then appended).
    var applied: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    var droppedReads: [NodeID: [UInt64]] = [:]
    /// Every `Ready` each node produced, in order.
    var readyLog: [NodeID: [Ready]] = [:]
    /// Messages sent and not yet delivered or dropped, oldest first.
    var queue: [Message] = []
    /// Every message ever sent, in order.
    var sent: [Message] = []
    /// Messages the filters dropped.
    var dropped: [Message] = []

    var cutLinks: Set<Link> = []
    var isolated: Set<NodeID> = []
    var ignoredKinds: Set<MessageKind> = []

    /// Membership passed to nodes created from empty storage (brand-new cluster).
    let membership: ClusterConfiguration
    /// State machine contents travelling with an installSnapshot message, per recipient.
    private var incomingSnapshotData: [NodeID: [Entry]] = [:]

    /// The configuration used for every node of these tests unless a test changes it.
    static func configuration(id: NodeID, seed: UInt64 = 1) -> RawNode.Configuration {
        var configuration = RawNode.Configuration(id: id)
        configuration.randomSeed = seed
        return configuration
    }

    /// A brand-new cluster.
    init(
        voters: [NodeID],
        learners: [NodeID] = [],
        seed: UInt64 = 1,
        configure: (inout RawNode.Configuration) -> Void = { _ in }
    ) throws {
        var states: [NodeID: RawNode.PersistentState] = [:]
        for id in voters + learners { states[id] = RawNode.PersistentState() }
        try self.init(
            membership: ClusterConfiguration(voters: Set(voters), learners: Set(learners)), states: states, seed: seed,
            configure: configure)
    }

    /// A cluster of nodes restarting from the given persistent state.
    init(
        membership: ClusterConfiguration,
        states: [NodeID: RawNode.PersistentState],
        seed: UInt64 = 1,
        configure: (inout RawNode.Configuration) -> Void = { _ in }
    ) throws {
        self.membership = membership
        for id in states.keys.sorted() {
            var configuration = Self.configuration(id: id, seed: seed)
            configure(&configuration)
            self.configurations[id] = configuration
            self.storage[id] = NodeStorage(states[id]!)
            self.applied[id] = []
            try self.start(id)
        }
    }

    var ids: [NodeID] { self.configurations.keys.sorted() }

    func node(_ id: NodeID) -> RawNode { self.nodes[id]! }

    /// The node's in-memory log, `firstIndex ... lastIndex`.
    func log(_ id: NodeID) -> [Entry] {
        let node = self.node(id)
        guard node.lastIndex >= node.firstIndex else { return [] }
        return (node.firstIndex...node.lastIndex).map { node.entry(at: $0)! }
    }

    /// The term of every entry in the node's in-memory log, in index order.
    func logTerms(_ id: NodeID) -> [UInt64] { self.log(id).map(\.term) }

    /// The commands the node's state machine applied, in order.
    func appliedCommands(_ id: NodeID) -> [[UInt8]] {
        self.applied[id, default: []].compactMap { if case .command(let bytes) = $0.payload { bytes } else { nil } }
    }

    /// Running nodes that believe they lead.
    var leaders: [NodeID] { self.ids.filter { self.nodes[$0]?.role == .leader } }

    // MARK: - Membership of the test network

    /// Adds a brand-new node that knows nothing of the cluster (it learns the configuration from the leader).
    mutating func addNode(_ id: NodeID, seed: UInt64 = 1, configure: (inout RawNode.Configuration) -> Void = { _ in }) throws {
        var configuration = Self.configuration(id: id, seed: seed)
        configure(&configuration)
        self.configurations[id] = configuration
        self.storage[id] = NodeStorage()
        self.applied[id] = []
        self.nodes[id] = try RawNode(configuration: configuration, membership: ClusterConfiguration())
    }

    /// Crashes a node: its volatile state is lost, its storage stays.
    mutating func stop(_ id: NodeID) {
        self.nodes[id] = nil
    }

    /// (Re)starts a node from its storage; the state machine is restored from the stored snapshot
    /// and the node hands the committed entries after it out again.
    mutating func start(_ id: NodeID) throws {
        let stored = self.storage[id]!
        self.nodes[id] = try RawNode(
            configuration: self.configurations[id]!, membership: self.membership, restoring: stored.persistentState)
        self.applied[id] = stored.snapshotData
    }

    // MARK: - Host loop

    /// Carries out the node's `Ready`s until it has none, in the order documented on ``Ready``.
    mutating func processReady(_ id: NodeID) {
        guard var node = self.nodes[id] else { return }
        while node.hasReady {
            let ready = node.ready()
            self.readyLog[id, default: []].append(ready)
            // 1. Messages that may leave before persisting.
            self.enqueue(ready.messages)
            // 2. Persist: snapshot, entries, hard state.
            var stored = self.storage[id]!
            if let snapshot = ready.snapshot {
                stored.snapshot = snapshot
                stored.entries = []
                stored.snapshotData = self.incomingSnapshotData.removeValue(forKey: id) ?? []
                self.applied[id] = stored.snapshotData
            }
            if let first = ready.entries.first {
                stored.entries.removeAll { $0.index >= first.index }
                stored.entries.append(contentsOf: ready.entries)
            }
            if let hardState = ready.hardState { stored.hardState = hardState }
            self.storage[id] = stored
            // 3. Messages that acknowledge what was persisted.
            self.enqueue(ready.persistedMessages)
            // 4. Apply, collect reads.
            self.applied[id, default: []].append(contentsOf: ready.committedEntries)
            self.readStates[id, default: []].append(contentsOf: ready.readStates)
            self.droppedReads[id, default: []].append(contentsOf: ready.droppedReads)
            // 5. Advance.
            node.advance(ready)
        }
        self.nodes[id] = node
    }

    mutating func processAllReadies() {
        for id in self.ids { self.processReady(id) }
    }

    private mutating func enqueue(_ messages: [Message]) {
        self.queue.append(contentsOf: messages)
        self.sent.append(contentsOf: messages)
    }

    // MARK: - Delivery

    /// Whether the filters let `message` through to a running node.
    func canDeliver(_ message: Message) -> Bool {
        self.nodes[message.to] != nil && !self.isolated.contains(message.from) && !self.isolated.contains(message.to)
            && !self.cutLinks.contains(Link(from: message.from, to: message.to))
            && !self.ignoredKinds.contains(message.kind)
    }

    /// Delivers one message (if the filters allow) and lets the recipient's host process its `Ready`.
    mutating func deliver(_ message: Message) {
        guard self.canDeliver(message) else {
            self.dropped.append(message)
            return
        }
        if case .installSnapshot(let metadata) = message.body, let sender = self.storage[message.from],
            sender.snapshot?.index == metadata.index
        {
            // The transport attaches the sender's snapshot bytes.
            self.incomingSnapshotData[message.to] = sender.snapshotData
        }
        self.nodes[message.to]!.step(message)
        self.processReady(message.to)
    }

    /// Steps a message into its recipient regardless of filters (a forged or hand-made message).
    mutating func inject(_ message: Message) {
        self.nodes[message.to]!.step(message)
        self.processReady(message.to)
    }

    /// Removes and returns the queued messages that match.
    @discardableResult
    mutating func take(where predicate: (Message) -> Bool) -> [Message] {
        let taken = self.queue.filter(predicate)
        self.queue.removeAll(where: predicate)
        return taken
    }

    /// Queued messages that match, without removing them.
    func queued(where predicate: (Message) -> Bool = { _ in true }) -> [Message] { self.queue.filter(predicate) }

    /// Delivers the currently queued messages that match (not the ones their delivery produces).
    mutating func deliverQueued(where predicate: (Message) -> Bool = { _ in true }) {
        for message in self.take(where: predicate) { self.deliver(message) }
    }

    /// Delivers messages, including those their delivery produces, until the queue is empty.
    @discardableResult
    mutating func stabilize(limit: Int = 100_000) -> Int {
        self.processAllReadies()
        var count = 0
        while !self.queue.isEmpty {
            precondition(count < limit, "the network did not quiesce")
            self.deliver(self.queue.removeFirst())
            count += 1
        }
        return count
    }

    /// Steps messages into their recipients, then delivers until quiescent (etcd's `network.send`).
    mutating func send(_ messages: Message...) {
        for message in messages { self.deliver(message) }
        self.stabilize()
    }

    // MARK: - Filters

    /// Drops every message between `a` and `b`, both ways.
    mutating func cut(_ a: NodeID, _ b: NodeID) {
        self.cutLinks.insert(Link(from: a, to: b))
        self.cutLinks.insert(Link(from: b, to: a))
    }

    /// Drops every message from `from` to `to`.
    mutating func drop(from: NodeID, to: NodeID) {
        self.cutLinks.insert(Link(from: from, to: to))
    }

    /// Drops every message to or from `id`.
    mutating func isolate(_ id: NodeID) {
        self.isolated.insert(id)
    }

    /// Drops every message of these kinds.
    mutating func ignore(_ kinds: MessageKind...) {
        self.ignoredKinds.formUnion(kinds)
    }

    /// Removes every filter.
    mutating func recover() {
        self.cutLinks = []
        self.isolated = []
        self.ignoredKinds = []
    }

    // MARK: - Input helpers

    /// Ticks a node `times` times, processing its `Ready` after each tick (nothing is delivered).
    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times {
            self.nodes[id]!.tick()
            self.processReady(id)
        }
    }

    /// `times` rounds of: tick each of `ids` (default: every running node) once, then deliver until quiescent.
    mutating func tickAndStabilize(_ ids: [NodeID]? = nil, times: Int = 1) {
        for _ in 0..<times {
            for id in ids ?? self.ids where self.nodes[id] != nil { self.nodes[id]!.tick() }
            self.stabilize()
        }
    }

    mutating func campaign(_ id: NodeID) {
        self.nodes[id]!.campaign()
        self.processReady(id)
    }

    @discardableResult
    mutating func propose(_ id: NodeID, _ command: [UInt8]) throws(RaftCoreError) -> (index: UInt64, term: UInt64) {
        let result = try self.nodes[id]!.propose(command)
        self.processReady(id)
        return result
    }

    @discardableResult
    mutating func proposeConfigurationChange(
        _ id: NodeID, _ change: ConfigurationChange
    ) throws(RaftCoreError) -> (index: UInt64, term: UInt64) {
        let result = try self.nodes[id]!.proposeConfigurationChange(change)
        self.processReady(id)
        return result
    }

    mutating func readIndex(_ id: NodeID, context: UInt64, lease: Bool = false) {
        self.nodes[id]!.readIndex(context: context, lease: lease)
        self.processReady(id)
    }

    mutating func transferLeadership(_ id: NodeID, to target: NodeID) throws(RaftCoreError) {
        try self.nodes[id]!.transferLeadership(to: target)
        self.processReady(id)
    }

    /// The host takes a snapshot of the node's state machine at `index` and compacts the log.
    mutating func compact(_ id: NodeID, at index: UInt64, trailingEntries: UInt64 = 0) throws(RaftCoreError) {
        try self.nodes[id]!.compact(snapshotAt: index, trailingEntries: trailingEntries)
        let snapshot = self.nodes[id]!.snapshot
        self.storage[id]!.snapshot = snapshot
        self.storage[id]!.snapshotData = self.applied[id, default: []].filter { $0.index <= index }
        self.processReady(id)
    }

    /// Lets `ids` (default: all) act as if more than an election timeout passed since they last heard
    /// from a leader or restarted, so they stop honouring leader leases — without ticking them, as a
    /// tick may start their own campaign. (Uses internal state: only for setting up elections.)
    mutating func expireLeaderLeases(_ ids: [NodeID]? = nil) {
        for id in ids ?? self.ids where self.nodes[id] != nil {
            self.nodes[id]!.startupLeaseGuard = false
            self.nodes[id]!.electionElapsed = max(self.nodes[id]!.electionElapsed, self.nodes[id]!.options.electionTimeout)
        }
    }

    /// Elects `id`: the other nodes stop honouring leases, `id` campaigns, and everything is delivered.
    mutating func elect(_ id: NodeID) {
        self.expireLeaderLeases(self.ids.filter { $0 != id })
        self.campaign(id)
        self.stabilize()
    }
}

/// An entry with a command payload derived from its position, so that equal `(index, term)` means an equal entry.
func commandEntry(index: UInt64, term: UInt64) -> Entry {
    Entry(term: term, index: index, payload: .command([UInt8(truncatingIfNeeded: index), UInt8(truncatingIfNeeded: term)]))
}

/// A log whose entry `i` (1-based) has term `terms[i - 1]`.
func commandLog(terms: [UInt64]) -> [Entry] {
    terms.enumerated().map { commandEntry(index: UInt64($0.offset + 1), term: $0.element) }
}
