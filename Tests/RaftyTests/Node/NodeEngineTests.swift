import RaftCore
import Testing

@testable import Rafty

/// The node state machine alone: what it asks to persist, in which order, and what it sends or
/// answers only once that is reported durable. Time is whatever the test says it is.
@Suite("NodeEngine")
struct NodeEngineTests {
    static let start = ContinuousClock.now
    static let tick = Duration.milliseconds(10)

    static func engine(id: NodeID, voters: Set<NodeID>, adjust: (inout RaftNode.Configuration) -> Void = { _ in }) throws -> NodeEngine {
        var configuration = RaftNode.Configuration(id: id)
        configuration.snapshotThreshold = 1_000
        adjust(&configuration)
        configuration.tickInterval = Self.tick
        let addresses = Dictionary(uniqueKeysWithValues: voters.map { ($0, "10.0.0.\($0):7000") })
        return try NodeEngine(
            configuration: configuration, address: addresses[id]!, peerAddresses: addresses.filter { $0.key != id }.map(\.value),
            addresses: addresses.filter { $0.key != id }, peerRoles: [:],
            membership: ClusterConfiguration(voters: voters, addresses: addresses),
            restoring: RawNode.PersistentState(hardState: HardState(), snapshot: nil, entries: []),
            metrics: .discarding(nodeID: id), logger: configuration.logger, now: Self.start, randomSeed: 1)
    }

    static func sends(_ actions: [NodeAction]) -> [Message] {
        actions.compactMap { if case .send(let message, _) = $0 { message } else { nil } }
    }

    @Test("A follower acknowledges an append only after the persist that stores it, with the new term saved first")
    func acknowledgeAfterPersist() throws {
        var follower = try Self.engine(id: 2, voters: [1, 2, 3])
        let entry = Entry(term: 2, index: 1, payload: .command([7]))
        let append = Message(from: 1, to: 2, term: 2, body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0, entries: [entry], commit: 0)))
        let actions = follower.handle([.message(append, snapshot: nil)], now: Self.start + Self.tick)
        #expect(Self.sends(actions).isEmpty, "nothing may acknowledge before the persist is reported")
        guard case .persist(let steps)? = actions.last else {
            Issue.record("the last action is not a persist: \(actions)")
            return
        }
        #expect(steps == [StorageStep.saveHardState(HardState(term: 2, vote: nil, commit: 0)), StorageStep.append([entry])])
        let after = follower.persisted(now: Self.start + Self.tick)
        let acknowledgements = Self.sends(after).filter { if case .appendResponse = $0.body { true } else { false } }
        #expect(acknowledgements.count == 1 && acknowledgements.first?.to == 1)
    }

    @Test("A snapshot from the leader is stored, restored, then the old log dropped, all before it is acknowledged; without its bytes it is ignored")
    func snapshotInstallOrder() throws {
        var follower = try Self.engine(id: 2, voters: [1, 2, 3])
        let metadata = SnapshotMetadata(index: 10, term: 2, configuration: follower.core.configuration)
        let message = Message(from: 1, to: 2, term: 2, body: .installSnapshot(metadata))
        var actions = follower.handle([.message(message, snapshot: nil)], now: Self.start + Self.tick)
        #expect(
            !actions.contains { if case .persist(let steps) = $0 { steps.contains { if case .storeSnapshot = $0 { true } else { false } } } else { false } })
        #expect(follower.core.commitIndex == 0)
        if case .persist = actions.last { _ = follower.persisted(now: Self.start + Self.tick) }

        actions = follower.handle([.message(message, snapshot: .bytes([1, 2, 3]))], now: Self.start + Self.tick * 2)
        #expect(Self.sends(actions).isEmpty)
        guard case .persist(let steps)? = actions.last else {
            Issue.record("the last action is not a persist: \(actions)")
            return
        }
        let snapshotSteps = steps.filter { if case .saveHardState = $0 { false } else { true } }
        #expect(
            snapshotSteps == [StorageStep.storeSnapshot(metadata, .bytes([1, 2, 3])), StorageStep.restoreSnapshot(metadata), StorageStep.dropLog(through: 10)])
        let after = follower.persisted(now: Self.start + Self.tick * 2)
        #expect(follower.applied == 10)
        #expect(Self.sends(after).contains { if case .appendResponse = $0.body { true } else { false } })
    }

    @Test("Stopping or failing answers a proposal already in the log 'outcome unknown', never 'not applied'")
    func inLogProposalOnStop() throws {
        var leader = try Self.engine(id: 1, voters: [1])
        var actions = leader.handle([], now: Self.start)
        if case .persist = actions.last { actions = leader.persisted(now: Self.start) }
        #expect(leader.core.role == .leader)
        actions = leader.handle([.request(7, .propose([1]), deadline: Self.start + .seconds(5))], now: Self.start)
        guard case .persist = actions.last else {
            Issue.record("the proposal was not persisted: \(actions)")
            return
        }
        // Stored, but the state machine has not applied it when the node stops.
        _ = leader.persisted(now: Self.start)
        let answers = leader.failAll(RaftError(.shuttingDown, "the node stopped"))
        guard case .answer(7, .failure(let error))? = answers.first else {
            Issue.record("the proposal was not answered: \(answers)")
            return
        }
        #expect(error.code == .timedOut)
    }

    @Test(
        "While a snapshot is written, committed entries wait, unless the state machine captured its state: then they are applied at once; compaction waits for the write either way"
    )
    func snapshotCaptureReleasesApplies() throws {
        var leader = try Self.engine(id: 1, voters: [1]) { $0.snapshotThreshold = 3 }
        var actions = leader.handle([], now: Self.start)
        if case .persist = actions.last { actions += leader.persisted(now: Self.start) }
        #expect(leader.core.role == .leader)
        _ = leader.applied(
            actions.flatMap { (action: NodeAction) -> [Entry] in if case .apply(let entries) = action { entries } else { [] } }, results: [:], now: Self.start)
        var snapshot: SnapshotMetadata?
        var request: RequestID = 1
        while snapshot == nil, request < 10 {
            let result = Self.propose(&leader, request, bytes: 1)
            actions = result.actions + leader.applied(result.entries, results: [:], now: Self.start)
            snapshot = actions.compactMap { if case .takeSnapshot(let metadata) = $0 { metadata } else { nil } }.first
            request += 1
        }
        let metadata = try #require(snapshot, "a snapshot is due after 3 entries")
        // Committed while the snapshot is written: they wait.
        var waiting = Self.propose(&leader, 100, bytes: 1).entries
        waiting += Self.propose(&leader, 101, bytes: 1).entries
        #expect(waiting.isEmpty && leader.deferredEntries.count == 2)
        // The state machine captured its state: they are applied now, and the next ones at once.
        let released = leader.snapshotCaptured(metadata, now: Self.start)
        let applied = released.flatMap { (action: NodeAction) -> [Entry] in if case .apply(let entries) = action { entries } else { [] } }
        #expect(applied.map(\.index) == [metadata.index + 1, metadata.index + 2])
        _ = leader.applied(applied, results: [:], now: Self.start)
        #expect(Self.propose(&leader, 102, bytes: 1).entries.map(\.index) == [metadata.index + 3])
        #expect(leader.snapshotCaptured(metadata, now: Self.start).isEmpty, "reported once")
        #expect(leader.core.firstIndex == 1, "nothing compacted before the snapshot is written")
        actions = leader.handle([.snapshotWritten(metadata, failure: nil)], now: Self.start)
        #expect(leader.core.snapshot?.index == metadata.index)
    }

    @Test(
        "One snapshot transfer per follower: a second waits while one streams or installs, but not for a failed one, one of another term, or one delivered longer ago than the install patience"
    )
    func snapshotStreamPatience() throws {
        var leader = try Self.engine(id: 1, voters: [1, 2, 3])
        let metadata = SnapshotMetadata(index: 10, term: 0, configuration: ClusterConfiguration(voters: [1, 2, 3]))
        let message = Message(from: 1, to: 2, term: leader.core.term, body: .installSnapshot(metadata))
        var started = false
        started = leader.startsSnapshotStream(message)
        #expect(started)
        started = leader.startsSnapshotStream(message)
        #expect(!started, "one streams")
        leader.snapshotSent(to: 2, index: 10, delivered: false, now: Self.start)
        started = leader.startsSnapshotStream(message)
        #expect(started, "the failed one is forgotten")
        leader.snapshotSent(to: 2, index: 10, delivered: true, now: Self.start)
        started = leader.startsSnapshotStream(message)
        #expect(!started, "delivered: the follower installs it")
        leader.snapshotStreams[2]?.term = leader.core.term + 1
        started = leader.startsSnapshotStream(message)
        #expect(started, "a follower drops a snapshot of another term")
        leader.snapshotSent(to: 2, index: 10, delivered: true, now: Self.start - leader.snapshotInstallPatience - .seconds(1))
        started = leader.startsSnapshotStream(message)
        #expect(started, "delivered too long ago: the follower may have dropped it")
    }

    @Test(
        "Recovery keeps the entries appended after an installed snapshot (the log starts right after it): the node simulation's seed 62003 lost two acknowledged entries this way"
    )
    func recoveryKeepsEntriesAfterInstalledSnapshot() throws {
        let log = InMemoryLogStore()
        let stable = InMemoryStableStore(state: StableState(nodeID: 2, hardState: HardState(term: 1, vote: 1, commit: 0)))
        // Snapshot 10 installed: the log dropped through 10, then 11...13 appended from the leader.
        try log.append((1...10).map { Entry(term: 1, index: $0, payload: .command([UInt8($0)])) })
        try log.compactPrefix(through: 10)
        try log.append((11...13).map { Entry(term: 1, index: $0, payload: .command([UInt8($0)])) })
        let snapshot = SnapshotMetadata(index: 10, term: 1, configuration: ClusterConfiguration(voters: [1, 2, 3]))
        let state = try NodeRecovery.reconcile(log: log, stable: stable, snapshot: snapshot, logger: RaftNode.Configuration(id: 2).logger)
        #expect(state.entries.map(\.index) == [11, 12, 13])
        #expect(log.firstIndex == 11 && log.lastIndex == 13)
    }

    static func refusal(_ actions: [NodeAction], _ request: RequestID) -> RaftError? {
        for action in actions { if case .answer(request, .failure(let error)) = action { return error } }
        return nil
    }

    /// Feeds a proposal to a single-voter leader, reports its persist, and returns the entries
    /// handed to the state machine (not reported applied) and the actions.
    static func propose(_ leader: inout NodeEngine, _ request: RequestID, bytes: Int) -> (entries: [Entry], actions: [NodeAction]) {
        var actions = leader.handle([.request(request, .propose(Array(repeating: 1, count: bytes)), deadline: Self.start + .seconds(5))], now: Self.start)
        if case .persist = actions.last { actions += leader.persisted(now: Self.start) }
        let entries = actions.flatMap { (action: NodeAction) -> [Entry] in if case .apply(let entries) = action { entries } else { [] } }
        return (entries, actions)
    }

    @Test(
        "Backpressure: past maxUnappliedEntries or maxUnappliedBytes a leader refuses proposals 'overloaded' before they reach the log, and accepts again once entries are applied"
    )
    func proposalBackpressure() throws {
        var leader = try Self.engine(id: 1, voters: [1]) {
            $0.maxUnappliedEntries = 3
            $0.maxUnappliedBytes = 10
        }
        var actions = leader.handle([], now: Self.start)
        if case .persist = actions.last { actions += leader.persisted(now: Self.start) }
        #expect(leader.core.role == .leader)
        // The no-op, not applied yet.
        var handed = actions.flatMap { (action: NodeAction) -> [Entry] in if case .apply(let entries) = action { entries } else { [] } }

        var result = Self.propose(&leader, 1, bytes: 4)
        handed += result.entries
        result = Self.propose(&leader, 2, bytes: 4)
        handed += result.entries
        #expect(Self.refusal(result.actions, 2) == nil)
        let lastIndex = leader.core.lastIndex
        result = Self.propose(&leader, 3, bytes: 1)  // three entries wait
        #expect(Self.refusal(result.actions, 3)?.code == .overloaded)
        #expect(leader.core.lastIndex == lastIndex, "a refused proposal never reaches the log")

        _ = leader.applied(handed, results: [:], now: Self.start)
        result = Self.propose(&leader, 4, bytes: 6)
        handed = result.entries
        #expect(Self.refusal(result.actions, 4) == nil)
        result = Self.propose(&leader, 5, bytes: 5)  // 6 + 5 bytes > 10
        #expect(Self.refusal(result.actions, 5)?.code == .overloaded)
        _ = leader.applied(handed, results: [:], now: Self.start)
        result = Self.propose(&leader, 6, bytes: 50)  // larger than the limit, but nothing waits
        #expect(Self.refusal(result.actions, 6) == nil)
    }

    @Test("Backpressure: past maxPendingReads a node refuses reads 'overloaded'")
    func readBackpressure() throws {
        var follower = try Self.engine(id: 2, voters: [1, 2, 3]) { $0.maxPendingReads = 1 }
        let heartbeat = Message(from: 1, to: 2, term: 2, body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0)))
        let actions = follower.handle([.message(heartbeat, snapshot: nil)], now: Self.start + Self.tick)
        if case .persist = actions.last { _ = follower.persisted(now: Self.start + Self.tick) }
        #expect(follower.core.leader == 1)
        let first = follower.handle([.request(1, .read([1], .linearizable), deadline: Self.start + .seconds(5))], now: Self.start + Self.tick)
        #expect(Self.refusal(first, 1) == nil, "the first read waits for the leader's read index")
        let second = follower.handle([.request(2, .read([1], .linearizable), deadline: Self.start + .seconds(5))], now: Self.start + Self.tick)
        #expect(Self.refusal(second, 2)?.code == .overloaded)
    }
}
