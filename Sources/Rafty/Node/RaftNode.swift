internal import Logging
public import RaftCore
public import ServiceLifecycle
internal import Synchronization

/// A Raft node: runs RaftCore's `RawNode` on one serial event loop over durable storage and a transport,
/// applies committed commands to the user's ``StateMachine`` and serves commands and reads from
/// any node (followers forward to the leader).
///
/// ```swift
/// let node = try RaftNode(configuration: configuration, stateMachine: MyMachine(), transport: network)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await node.run() }
///     let result = try await node.submitCommand(Array("set x 1".utf8))
///     await node.stop()
/// }
/// ```
public final class RaftNode: Service {
    enum Event: Sendable {
        case tick
        case message(Message, snapshot: ReceivedSnapshot?)
        case discovered(address: String, PeerInfo)
        case propose([UInt8], deadline: ContinuousClock.Instant, CheckedContinuation<Answer, Never>)
        case read([UInt8], ReadConsistency, deadline: ContinuousClock.Instant, CheckedContinuation<Answer, Never>)
        case transfer(to: NodeID?, deadline: ContinuousClock.Instant, CheckedContinuation<Answer, Never>)
        case membership(MembershipChange, deadline: ContinuousClock.Instant, CheckedContinuation<Answer, Never>)
        case learnedAddress(id: NodeID, address: String)
        case bootstrap(CheckedContinuation<Answer, Never>)
        /// The state machine's snapshot at `metadata` was written off the loop (or failed).
        case snapshotWritten(SnapshotMetadata, failure: RaftError?)
        /// A snapshot transfer to a follower is over (see ``NodeInput/snapshotSent(to:index:delivered:)``).
        case snapshotSent(to: NodeID, index: UInt64, delivered: Bool)
        case stop
    }

    /// What the loop answers a caller: an outcome, or an error, or "ask the leader at this address".
    package enum Answer: Sendable {
        /// The state machine's result of a command or a read.
        case success([UInt8])
        /// A leadership transfer is over: this voter leads.
        case transferred(to: NodeID)
        /// A membership change committed; its last configuration entry is at this index.
        case changed(configurationIndex: UInt64)
        /// The node formed a cluster of itself; it adds these peers next.
        case bootstrapped(peers: [BootstrapPeer])
        case failure(RaftError)
        case forward(to: String)
    }

    /// A peer a bootstrapping node adds to the cluster it formed.
    package struct BootstrapPeer: Sendable, Hashable {
        package var id: NodeID
        package var address: String
        package var isVoter: Bool
    }

    /// The validated configuration.
    public let configuration: Configuration
    let address: String
    let peerAddresses: [String]
    let transport: any RaftTransport
    /// The state machine the node applies committed commands to (for reads outside Raft, such as
    /// a backup after a linearizable read).
    public let stateMachine: any StateMachine

    private struct Shared {
        var pending: [Event] = []
        var running = false
        var stopping = false
        /// False once the loop ended: new requests fail at once.
        var accepting = true
        var subscribers: [AsyncStream<NodeEvent>.Continuation] = []
        var status: Status
        /// The members of ``status``, built when it is read (nil until the engine runs).
        var memberView: MemberView?
        /// Peer streams waiting for room in `pending` (``awaitCapacity()``).
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Events queued for the loop beyond which peer streams stop reading (``awaitCapacity()``):
    /// HTTP/2 flow control then holds the senders back instead of this node's memory.
    static let inboxLimit = 4096

    private let shared: Mutex<Shared>
    /// Ids whose address is being looked up.
    let lookups = Mutex<Set<NodeID>>([])
    /// The identity of the storage the running loop opened (nil before).
    let identityStore = Mutex<NodeIdentityStore?>(nil)
    /// Members removed from the committed membership whose incarnation is not learned again from
    /// their messages until a configuration lists them (see ``NodeIdentity/admit(_:clusterID:incarnation:learning:)``).
    let unlearnedPeers = Mutex<Set<NodeID>>([])
    /// The snapshot store of the running loop's storage, which received snapshots are written to.
    let snapshotStore = Mutex<(any SnapshotStore)?>(nil)
    let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    /// Creates a node; nothing runs until ``run()``.
    ///
    /// - Throws: ``RaftError/Code/invalidConfiguration`` naming the field that is out of range.
    public init(configuration: Configuration, stateMachine: any StateMachine, transport: any RaftTransport) throws(RaftError) {
        try configuration.validate()
        self.configuration = configuration
        self.address = try Configuration.normalize(address: configuration.address, field: "address")
        var peers: [String] = []
        for peer in configuration.peers {
            let normalized = try Configuration.normalize(address: peer, field: "peers")
            if normalized != self.address && !peers.contains(normalized) { peers.append(normalized) }
        }
        self.peerAddresses = peers
        self.transport = transport
        self.stateMachine = stateMachine
        let status = Status(
            id: configuration.id, address: self.address, state: .down, term: 0, commitIndex: 0, lastApplied: 0,
            leader: nil, lastLeaderContact: nil, members: [])
        self.shared = Mutex(Shared(status: status))
        (self.wakeups, self.wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The node's current state.
    public var status: Status {
        self.shared.withLock { shared in
            var status = shared.status
            if let view = shared.memberView {
                status.members = view.members
                status.committedMembers = view.committedMembers
            }
            return status
        }
    }

    /// Runs the node until ``stop()``, a graceful shutdown of its `ServiceGroup`, or cancellation.
    /// Call it once; a second call throws ``RaftError/Code/alreadyRunning``.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.runLoop()
        } onGracefulShutdown: {
            self.beginStop()
        }
    }

    private func runLoop() async throws {
        let alreadyRunning = self.shared.withLock { shared in
            defer { shared.running = true }
            return shared.running
        }
        guard !alreadyRunning else { throw RaftError(.alreadyRunning, "run() may be called only once") }
        var loop = try NodeLoop(node: self)
        defer {
            self.publish { $0.state = .down }
            let subscribers = self.shared.withLock { shared in
                defer { shared.subscribers = [] }
                return shared.subscribers
            }
            for subscriber in subscribers { subscriber.finish() }
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await self.transport.serve(NodeTransportHandler(node: self), at: self.address)
                } catch {
                    // Without a listening transport the node is useless: end the loop (which runs in
                    // the group's body, not a child, so it would not see the group's cancellation).
                    self.wakeup.finish()
                    throw error
                }
            }
            group.addTask { await self.tickForever() }
            group.addTask { await self.discoverPeers() }
            if self.configuration.shutdownOnRemove { group.addTask { await self.watchForRemoval() } }
            group.addTask { await self.learnPeerIdentities() }
            do {
                try await loop.run()
            } catch {
                await loop.failAll(RaftError(.shuttingDown, "the node stopped: \(error)"))
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    /// Stops the node gracefully: a leader first hands leadership to another voter; calls in flight
    /// fail with ``RaftError/Code/shuttingDown``. Idempotent.
    public func stop() async {
        if self.configuration.leaveOnStop, self.status.state != .down, self.status.isMember {
            do {
                try await self.removeMember(id: self.configuration.id, timeout: self.configuration.electionTimeout * 10)
            } catch {
                self.configuration.logger.warning("could not leave the cluster before stopping: \(error)")
            }
        }
        self.beginStop()
    }

    private func beginStop() {
        let first = self.shared.withLock { shared in
            defer { shared.stopping = true }
            return !shared.stopping
        }
        if first { self.enqueue(.stop) }
    }

    /// Submits a command from any node; a follower forwards it to the leader. Returns the state
    /// machine's result once the command is committed and applied.
    ///
    /// - Throws: ``RaftError`` — ``RaftError/Code/timedOut`` means the outcome is unknown; every
    ///   other code means the command was not applied.
    public func submitCommand(_ command: [UInt8], timeout: Duration = .seconds(5)) async throws(RaftError) -> [UInt8] {
        let deadline = self.configuration.clock.now + timeout
        let answer = await withCheckedContinuation { continuation in
            self.enqueue(.propose(command, deadline: deadline, continuation))
        }
        let request = ForwardedRequest.submit(command)
        return try Self.result(of: try await self.resolve(answer, request, deadline: deadline), to: request)
    }

    /// Reads through the state machine's `query` with the given consistency.
    public func read(
        _ query: [UInt8], consistency: ReadConsistency = .linearizable, timeout: Duration = .seconds(5)
    ) async throws(RaftError) -> [UInt8] {
        if consistency == .stale {
            do {
                return try await self.stateMachine.query(query)
            } catch {
                throw RaftError(.rejected, "query failed: \(error)")
            }
        }
        let deadline = self.configuration.clock.now + timeout
        let answer = await withCheckedContinuation { continuation in
            self.enqueue(.read(query, consistency, deadline: deadline, continuation))
        }
        let request = ForwardedRequest.read(query)
        return try Self.result(of: try await self.resolve(answer, request, deadline: deadline), to: request)
    }

    private func resolve(_ answer: Answer, _ request: ForwardedRequest, deadline: ContinuousClock.Instant) async throws(RaftError) -> ForwardedAnswer {
        switch answer {
        case .success(let result): return .result(result)
        case .transferred(let leader): return .leader(leader)
        case .changed(let index): return .configurationIndex(index)
        case .bootstrapped: throw RaftError(.rejected, "a \(request.kind) was answered as a bootstrap")
        case .failure(let error): throw error
        case .forward(let leader): return try await self.forward(request, to: leader, deadline: deadline)
        }
    }

    private func forward(_ request: ForwardedRequest, to leader: String, deadline: ContinuousClock.Instant) async throws(RaftError) -> ForwardedAnswer {
        let remaining = deadline - self.configuration.clock.now
        guard remaining > .zero else { throw RaftError(.timedOut, "the deadline passed before the leader was reached") }
        do {
            return try await self.transport.forward(request, to: leader, timeout: remaining)
        } catch  where error.code == .unreachable {
            switch request {
            case .submit, .membership: break
            case .read, .transferLeadership: throw error
            }
            // The connection may have failed after the leader took the command.
            throw RaftError(.timedOut, "the forward to the leader at \(leader) failed; the outcome is unknown: \(error.message)")
        }
    }

    private static func result(of answer: ForwardedAnswer, to request: ForwardedRequest) throws(RaftError) -> [UInt8] {
        guard case .result(let result) = answer else { throw RaftError(.rejected, "the leader answered a \(request.kind) with \(answer.kind)") }
        return result
    }

    /// Hands leadership to the voter `target`, or to the most up-to-date voter if nil, and returns
    /// the new leader's id once it took over. Works on any node (a follower forwards to the leader).
    ///
    /// - Throws: ``RaftError/Code/rejected`` if the target is not a voter or did not take over
    ///   within an election timeout (the old leader then leads on); ``RaftError/Code/noLeader``
    ///   if no leader is known; ``RaftError/Code/timedOut`` at the deadline.
    public func transferLeadership(to target: NodeID? = nil, timeout: Duration = .seconds(5)) async throws(RaftError) -> NodeID {
        let deadline = self.configuration.clock.now + timeout
        let answer = await withCheckedContinuation { continuation in
            self.enqueue(.transfer(to: target, deadline: deadline, continuation))
        }
        let request = ForwardedRequest.transferLeadership(to: target)
        let result = try await self.resolve(answer, request, deadline: deadline)
        guard case .leader(let id) = result else { throw RaftError(.rejected, "the leader answered a \(request.kind) with \(result.kind)") }
        return id
    }

    /// Carries out a membership change on the leader (from any node: followers forward it) and
    /// returns the index of its last configuration entry once that committed. One change at a
    /// time: a second one gets ``RaftError/Code/membershipChangeInProgress``.
    ///
    /// - Throws: ``RaftError``: ``RaftError/Code/rejected`` for a change that makes no sense (or
    ///   would leave too few reachable voters for a quorum), ``RaftError/Code/tooSlow`` if a new
    ///   voter did not catch up within ``Configuration-swift.struct/memberCatchUpTimeout`` (it stays
    ///   a read-only member), ``RaftError/Code/timedOut`` if the outcome is unknown.
    @discardableResult
    public func changeMembership(_ change: MembershipChange, timeout: Duration = .seconds(30)) async throws(RaftError) -> UInt64 {
        let deadline = self.configuration.clock.now + timeout
        let answer = await withCheckedContinuation { continuation in
            self.enqueue(.membership(change, deadline: deadline, continuation))
        }
        let request = ForwardedRequest.membership(change)
        var result = try await self.resolve(answer, request, deadline: deadline)
        // Changing the leader itself hands leadership over first; the old leader then points here.
        var hops = 0
        while case .redirect(let address) = result, hops < 3 {
            result = try await self.forward(request, to: address, deadline: deadline)
            hops += 1
        }
        guard case .configurationIndex(let index) = result else {
            throw RaftError(.rejected, "the leader answered a \(request.kind) with \(result.kind)")
        }
        return index
    }

    /// Adds node `id` (listening at `address`) as a read-only member; with `asVoter`, promotes it once it
    /// caught up. See ``changeMembership(_:timeout:)``.
    @discardableResult
    public func addMember(id: NodeID, address: String, asVoter: Bool = true, timeout: Duration = .seconds(30)) async throws(RaftError) -> UInt64 {
        try await self.changeMembership(.add(id: id, address: address, asVoter: asVoter), timeout: timeout)
    }

    /// Removes node `id` (a voter is demoted first; the leader hands over first).
    @discardableResult
    public func removeMember(id: NodeID, timeout: Duration = .seconds(30)) async throws(RaftError) -> UInt64 {
        try await self.changeMembership(.remove(id: id), timeout: timeout)
    }

    /// Turns the read-only member `id` into a voter once it caught up.
    @discardableResult
    public func promote(id: NodeID, timeout: Duration = .seconds(30)) async throws(RaftError) -> UInt64 {
        try await self.changeMembership(.promote(id: id), timeout: timeout)
    }

    /// Turns the voter `id` into a read-only member.
    @discardableResult
    public func demote(id: NodeID, timeout: Duration = .seconds(30)) async throws(RaftError) -> UInt64 {
        try await self.changeMembership(.demote(id: id), timeout: timeout)
    }

    /// Finds the leader: this node's own knowledge, else the first peer that reports one
    /// (GetLeader, asked of all peers at once). Returns nil if none answers within `timeout`.
    public func fetchLeader(timeout: Duration = .seconds(2)) async -> (id: NodeID, address: String)? {
        if let leader = self.knownLeader { return leader }
        enum Answer: Sendable {
            case leader(NodeID, String)
            case unknown
            case deadline
        }
        let transport = self.transport
        return await withTaskGroup(of: Answer.self) { group in
            for address in self.peerAddresses {
                group.addTask {
                    guard let leader = try? await transport.leader(at: address) else { return .unknown }
                    return .leader(leader.id, leader.address)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .deadline
            }
            var unanswered = self.peerAddresses.count
            for await answer in group {
                switch answer {
                case .leader(let id, let address):
                    group.cancelAll()
                    return (id, address)
                case .unknown:
                    unanswered -= 1
                    if unanswered > 0 { continue }
                case .deadline:
                    break
                }
                group.cancelAll()
                return nil
            }
            return nil
        }
    }

    // MARK: - Event intake

    func enqueue(_ event: Event) {
        let accepted = self.shared.withLock { shared in
            guard shared.accepting else { return false }
            shared.pending.append(event)
            return true
        }
        if accepted {
            self.wakeup.yield()
        } else {
            Self.fail(event, RaftError(.shuttingDown, "the node is not running"))
        }
    }

    /// Events queued for the loop (tests wait on it).
    var pendingEventCount: Int { self.shared.withLock { $0.pending.count } }

    /// Peer streams waiting for room in the inbox (tests wait on it).
    var roomWaiterCount: Int { self.shared.withLock { $0.roomWaiters.count } }

    /// Takes every pending event (the loop handles them as one batch); with `close`, stops
    /// accepting new ones. Peer streams waiting for room read on.
    func takePending(close: Bool = false) -> [Event] {
        let (events, waiters) = self.shared.withLock { shared in
            defer {
                shared.pending = []
                shared.roomWaiters = []
            }
            if close { shared.accepting = false }
            return (shared.pending, shared.roomWaiters)
        }
        for waiter in waiters { waiter.resume() }
        return events
    }

    /// Updates the published status (and the view its members are built from, when given) and
    /// announces state and leader changes to subscribers.
    func publish(members view: MemberView? = nil, _ update: (inout Status) -> Void) {
        let (events, subscribers) = self.shared.withLock { shared in
            let before = shared.status
            update(&shared.status)
            if let view { shared.memberView = view }
            var events: [NodeEvent] = []
            if before.state != shared.status.state { events.append(.stateChanged(shared.status.state, term: shared.status.term)) }
            if before.leaderID != shared.status.leaderID { events.append(.leaderChanged(shared.status.leaderID, term: shared.status.term)) }
            if before.lastApplied != shared.status.lastApplied, !shared.subscribers.isEmpty {
                events.append(.applied(index: shared.status.lastApplied))
            }
            return (events, shared.subscribers)
        }
        for event in events { for subscriber in subscribers { subscriber.yield(event) } }
    }

    func subscribe(_ continuation: AsyncStream<NodeEvent>.Continuation) {
        let accepted = self.shared.withLock { shared in
            guard shared.accepting || !shared.running else { return false }
            shared.subscribers.append(continuation)
            return true
        }
        if !accepted { continuation.finish() }
    }

    static func fail(_ event: Event, _ error: RaftError) {
        switch event {
        case .propose(_, _, let continuation), .read(_, _, _, let continuation), .transfer(_, _, let continuation),
            .membership(_, _, let continuation), .bootstrap(let continuation):
            continuation.resume(returning: .failure(error))
        default:
            break
        }
    }

    private func tickForever() async {
        while !Task.isCancelled {
            // The loop counts ticks by the clock (see NodeLoop.catchUpTicks): this only wakes it.
            try? await self.configuration.clock.sleep(for: self.configuration.tick)
            self.enqueue(.tick)
        }
    }

    /// Asks every peer for its id until all answered (ids are also persisted by the loop).
    private func discoverPeers() async {
        var unresolved = self.peerAddresses
        while !unresolved.isEmpty && !Task.isCancelled {
            var stillUnresolved: [String] = []
            for address in unresolved {
                do {
                    let info = try await self.transport.askNodeID(at: address)
                    self.enqueue(.discovered(address: address, info))
                } catch {
                    stillUnresolved.append(address)
                }
            }
            unresolved = stillUnresolved
            if !unresolved.isEmpty { try? await Task.sleep(for: self.configuration.tick) }
        }
    }
}

/// What the node offers its transport (``RaftTransportHandler``), kept out of ``RaftNode``'s
/// public API: users never call these. Sibling modules and tests reach them with `package` access.
extension RaftNode {
    /// This node's id.
    package var nodeID: NodeID { self.configuration.id }

    /// This node's id and role.
    package var peerInfo: PeerInfo {
        PeerInfo(id: self.configuration.id, isVoter: self.configuration.isVoter, credentials: self.peerCredentials)
    }

    /// Returns once the loop's inbox holds fewer than `inboxLimit` (4,096) events (at once, mostly):
    /// the transport calls it before each inbound Raft message, so a node that falls behind
    /// stops reading its peers' streams instead of buffering without bound.
    package func awaitCapacity() async {
        // The common case, room, needs no continuation (one per inbound message otherwise).
        if self.shared.withLock({ !$0.accepting || $0.pending.count < Self.inboxLimit }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let full = self.shared.withLock { shared in
                guard shared.accepting, shared.pending.count >= Self.inboxLimit else { return false }
                shared.roomWaiters.append(continuation)
                return true
            }
            if !full { continuation.resume() }
        }
    }

    /// Queues an inbound Raft message for the event loop.
    package func receive(_ message: Message, snapshot: [UInt8]?) async {
        self.enqueue(.message(message, snapshot: snapshot.map(ReceivedSnapshot.bytes)))
    }

    /// A writer into the running node's snapshot store (nil when it is not running).
    package func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)? {
        guard let store = self.snapshotStore.withLock({ $0 }) else { return nil }
        return try? store.makeWriter(for: metadata)
    }

    /// Queues an InstallSnapshot message whose snapshot is already in the store, uncommitted.
    package func receive(_ message: Message, spooled snapshot: SpooledSnapshot) async {
        self.enqueue(.message(message, snapshot: .spooled(snapshot)))
    }

    /// The leader this node knows of, with its address.
    package var knownLeader: (id: NodeID, address: String)? {
        let status = self.status
        guard let id = status.leaderID, let address = status.leaderAddress else { return nil }
        return (id, address)
    }

    /// The committed membership, once this node runs a cluster configuration.
    package var committedMembership: CommittedMembership? {
        let status = self.status
        guard status.state != .down, !status.committedMembers.isEmpty else { return nil }
        return CommittedMembership(
            id: status.id, isLeader: status.state == .leader, term: status.term, members: status.committedMembers,
            clusterID: self.peerCredentials.clusterID)
    }

    /// The cluster id and the incarnation of this node's data (zeros before it runs).
    package var peerCredentials: PeerCredentials {
        guard let identity = self.identityStore.withLock({ $0 })?.identity else { return .none }
        return PeerCredentials(clusterID: identity.clusterID, incarnation: identity.incarnation)
    }

    /// Refuses peers of another cluster and members whose data was lost (see ``NodeIdentity``);
    /// learns, durably, the cluster id and the incarnations of peers seen for the first time.
    package func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String? {
        // Not running (starting or stopping): nothing to check against, and the messages are dropped.
        guard let store = self.identityStore.withLock({ $0 }) else { return nil }
        do {
            let learning = !self.unlearnedPeers.withLock { $0.contains(peer) }
            let refusal = try store.update {
                $0.admit(peer, clusterID: credentials.clusterID, incarnation: credentials.incarnation, learning: learning)
            }
            return refusal?.description
        } catch {
            return "node \(self.configuration.id) cannot record its peer's identity: \(error)"
        }
    }

    /// Serves a forwarded request locally; never forwards again.
    package func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        let deadline = self.configuration.clock.now + timeout
        let answer = await withCheckedContinuation { continuation in
            switch request {
            case .submit(let command): self.enqueue(.propose(command, deadline: deadline, continuation))
            case .read(let query): self.enqueue(.read(query, .linearizable, deadline: deadline, continuation))
            case .transferLeadership(let target): self.enqueue(.transfer(to: target, deadline: deadline, continuation))
            case .membership(let change): self.enqueue(.membership(change, deadline: deadline, continuation))
            }
        }
        switch answer {
        case .success(let result): return .result(result)
        case .transferred(let leader): return .leader(leader)
        case .changed(let index): return .configurationIndex(index)
        case .bootstrapped: throw RaftError(.rejected, "a \(request.kind) was answered as a bootstrap")
        case .failure(let error): throw error
        case .forward(let address):
            // A membership change of the leader itself continues on the new leader: say where.
            if case .membership = request { return .redirect(to: address) }
            throw RaftError(.notLeader, "node \(self.configuration.id) is no longer the leader")
        }
    }
}
