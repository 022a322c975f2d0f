import RaftCore
import Testing

@testable import Rafty

/// Commands a follower forwards to the leader over the peer stream: batching, the leader's
/// answer, and the follower's answers when it applies the reported indices.
@Suite("NodeEngine forwarding")
struct NodeEngineForwardingTests {
    static let start = NodeEngineTests.start
    static let tick = NodeEngineTests.tick

    /// Follower 2 of {1, 2, 3} that knows 1 leads term 2.
    static func follower(snapshotThreshold: UInt64 = 1_000) throws -> NodeEngine {
        var follower = try NodeEngineTests.engine(id: 2, voters: [1, 2, 3]) { $0.snapshotThreshold = snapshotThreshold }
        let append = Message(from: 1, to: 2, term: 2, body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0)))
        let actions = follower.handle([.message(append, snapshot: nil)], now: Self.start + Self.tick)
        if case .persist = actions.last { _ = follower.persisted(now: Self.start + Self.tick) }
        #expect(follower.core.leader == 1)
        return follower
    }

    static func propose(_ request: RequestID, _ command: [UInt8]) -> NodeInput {
        .request(request, .propose(command), deadline: Self.start + .seconds(5))
    }

    /// Delivers `entries` (term 2) with a commit index, reports the persist, and returns the
    /// entries handed to the state machine.
    static func replicate(_ follower: inout NodeEngine, _ entries: [Entry], prev: UInt64, commit: UInt64) -> [Entry] {
        let append = Message(
            from: 1, to: 2, term: 2,
            body: .append(AppendRequest(prevLogIndex: prev, prevLogTerm: prev == 0 ? 0 : 2, entries: entries, commit: commit)))
        var actions = follower.handle([.message(append, snapshot: nil)], now: Self.start + Self.tick * 2)
        if case .persist = actions.last { actions += follower.persisted(now: Self.start + Self.tick * 2) }
        return actions.flatMap { (action: NodeAction) -> [Entry] in if case .apply(let entries) = action { entries } else { [] } }
    }

    static func answer(_ actions: [NodeAction], _ request: RequestID) -> RaftNode.Answer? {
        for action in actions { if case .answer(request, let answer) = action { return answer } }
        return nil
    }

    static func success(_ answer: RaftNode.Answer?) -> [UInt8]? {
        if case .success(let bytes)? = answer { bytes } else { nil }
    }

    static func failure(_ answer: RaftNode.Answer?) -> RaftError.Code? {
        if case .failure(let error)? = answer { error.code } else { nil }
    }

    static func forwarded(_ actions: [NodeAction]) -> [ForwardedProposals] {
        NodeEngineTests.sends(actions).compactMap { if case .forwardedProposals(let batch) = $0.body { batch } else { nil } }
    }

    @Test(
        "A follower forwards the commands of one call in one message and answers each with its own state machine's result once their index applies; refused ones fail at once"
    )
    func forwardAndApply() throws {
        var follower = try Self.follower()
        let actions = follower.handle([Self.propose(1, [1]), Self.propose(2, [2]), Self.propose(3, [3])], now: Self.start + Self.tick)
        let batches = Self.forwarded(actions)
        #expect(batches.count == 1 && batches.first?.commands == [[1], [2], [3]])
        #expect(NodeEngineTests.sends(actions).allSatisfy { $0.to == 1 })
        #expect(actions.allSatisfy { if case .answer = $0 { false } else { true } }, "nobody is answered before the leader is")
        guard let batch = batches.first else { return }

        // The leader appended the first two at 2 and 3; it refused the third.
        let response = ForwardedProposalsResponse(context: batch.context, firstIndex: 2, term: 2, accepted: 2, refusal: .overloaded)
        let answered = follower.handle(
            [.message(Message(from: 1, to: 2, term: 2, body: .forwardedProposalsResponse(response)), snapshot: nil)], now: Self.start + Self.tick)
        #expect(Self.failure(Self.answer(answered, 3)) == .overloaded)
        #expect(Self.answer(answered, 1) == nil && Self.answer(answered, 2) == nil)

        let entries = [
            Entry(term: 2, index: 1, payload: .noop), Entry(term: 2, index: 2, payload: .command([1])),
            Entry(term: 2, index: 3, payload: .command([2])),
        ]
        let handed = Self.replicate(&follower, entries, prev: 0, commit: 3)
        #expect(handed.map(\.index) == [1, 2, 3])
        let applied = follower.applied(handed, results: [2: [0xA], 3: [0xB]], now: Self.start + Self.tick * 2)
        #expect(Self.success(Self.answer(applied, 1)) == [0xA])
        #expect(Self.success(Self.answer(applied, 2)) == [0xB])
    }

    @Test(
        "An answer that reaches the follower after the entries applied is served from the results it kept; an entry of another term at that index means not applied"
    )
    func lateAnswer() throws {
        var follower = try Self.follower()
        let batch = try #require(Self.forwarded(follower.handle([Self.propose(1, [1]), Self.propose(2, [2])], now: Self.start + Self.tick)).first)
        // Index 2 holds the command of term 2; index 3 an entry of term 1 (another leader's).
        let entries = [
            Entry(term: 1, index: 1, payload: .noop), Entry(term: 2, index: 2, payload: .command([1])),
            Entry(term: 2, index: 3, payload: .command([9])),
        ]
        let handed = Self.replicate(&follower, entries, prev: 0, commit: 3)
        _ = follower.applied(handed, results: [2: [0xA], 3: [0xC]], now: Self.start + Self.tick * 2)

        let response = ForwardedProposalsResponse(context: batch.context, firstIndex: 1, term: 1, accepted: 2, refusal: nil)
        let answered = follower.handle(
            [.message(Message(from: 1, to: 2, term: 2, body: .forwardedProposalsResponse(response)), snapshot: nil)], now: Self.start + Self.tick * 2)
        // Index 1 holds a no-op of term 1: the leader said term 1 there, so it is "that entry"; a
        // no-op has no result. Index 2 holds term 2, not 1: the command at index 2 was replaced.
        #expect(Self.success(Self.answer(answered, 1)) == [])
        #expect(Self.failure(Self.answer(answered, 2)) == .noLeader)
        #expect(follower.recentResults.isEmpty, "nothing is kept once no answer is outstanding")
    }

    @Test("A forward whose answer never comes is answered 'outcome unknown' after an election timeout; a follower without a leader refuses at once")
    func lostAnswer() throws {
        var follower = try Self.follower()
        _ = follower.handle([Self.propose(1, [1])], now: Self.start + Self.tick)
        let later = Self.start + Self.tick + follower.electionTimeout + Self.tick
        let actions = follower.handle([.tick], now: later)
        #expect(Self.failure(Self.answer(actions, 1)) == .timedOut)

        var lonely = try NodeEngineTests.engine(id: 2, voters: [1, 2, 3])
        let refused = lonely.handle([Self.propose(2, [2])], now: Self.start)
        #expect(Self.failure(Self.answer(refused, 2)) == .noLeader)
        #expect(Self.forwarded(refused).isEmpty)
    }

    @Test("The leader appends forwarded commands under its own backpressure and says where they went, before the appends that carry them")
    func leaderAccepts() throws {
        var leader = try NodeEngineTests.engine(id: 1, voters: [1]) { $0.maxUnappliedEntries = 3 }
        leader.addresses[2] = "10.0.0.2:7000"  // a read-only member's, say
        var actions = leader.handle([], now: Self.start)
        if case .persist = actions.last { actions += leader.persisted(now: Self.start) }
        #expect(leader.core.role == .leader)
        // The no-op is handed to the state machine but not applied: two more fit.
        let batch = ForwardedProposals(context: 5, commands: [[1], [2], [3]])
        actions = leader.handle([.message(Message(from: 2, to: 1, term: leader.core.term, body: .forwardedProposals(batch)), snapshot: nil)], now: Self.start)
        let responses = NodeEngineTests.sends(actions).compactMap { if case .forwardedProposalsResponse(let response) = $0.body { response } else { nil } }
        #expect(responses == [ForwardedProposalsResponse(context: 5, firstIndex: 2, term: leader.core.term, accepted: 2, refusal: .overloaded)])
        #expect(leader.core.lastIndex == 3, "the refused command never reached the log")
    }

    @Test("A follower asks the leader one read index for all the reads of a call; the answer releases them all")
    func batchedFollowerReads() throws {
        var follower = try Self.follower()
        let reads = (1...3).map { NodeInput.request(RequestID($0), .read([UInt8($0)], .linearizable), deadline: Self.start + .seconds(5)) }
        let actions = follower.handle(reads, now: Self.start + Self.tick)
        let asked = NodeEngineTests.sends(actions).compactMap { if case .readIndex(let context) = $0.body { context } else { nil } }
        #expect(asked.count == 1, "one read index for three reads: \(asked)")
        guard let context = asked.first else { return }
        let answer = Message(from: 1, to: 2, term: 2, body: .readIndexResponse(context: context, index: 0))
        let served = follower.handle([.message(answer, snapshot: nil)], now: Self.start + Self.tick)
        let queries = served.compactMap { if case .query(let request, let query) = $0 { (request, query) } else { nil } }
        #expect(queries.map(\.0).sorted() == [1, 2, 3] && queries.map(\.1).sorted { $0[0] < $1[0] } == [[1], [2], [3]])
        #expect(follower.readBatches.isEmpty)
    }

    /// Before, the read failed `noLeader` one election timeout after it was asked (100 ms in the
    /// in-process cluster tests, which a loaded CI machine's fsync stall exceeded).
    @Test(
        "A follower whose read-index question or answer was lost asks the leader again after an election timeout, until the read's deadline, instead of failing the read"
    )
    func followerReadAsksAgain() throws {
        var follower = try Self.follower()
        func asked(_ actions: [NodeAction]) -> [UInt64] {
            NodeEngineTests.sends(actions).compactMap { if case .readIndex(let context) = $0.body { context } else { nil } }
        }
        var now = Self.start + Self.tick
        var actions = follower.handle([.request(1, .read([1], .linearizable), deadline: Self.start + .seconds(5))], now: now)
        var questions = asked(actions)
        #expect(questions.count == 1)
        // The answer never comes; the leader's heartbeats do.
        for round in UInt64(1)...15 {
            now += Self.tick
            let heartbeat = Message(from: 1, to: 2, term: 2, body: .heartbeat(Heartbeat(commit: 0, round: round, sentTick: round)))
            actions = follower.handle([.message(heartbeat, snapshot: nil), .tick], now: now)
            #expect(NodeEngineTests.refusal(actions, 1) == nil, "the read is still waiting at tick \(round)")
            questions += asked(actions)
        }
        #expect(questions.count == 2, "asked once more after an election timeout (10 ticks): \(questions)")
        guard let last = questions.last else { return }
        let answer = Message(from: 1, to: 2, term: 2, body: .readIndexResponse(context: last, index: 0))
        let served = follower.handle([.message(answer, snapshot: nil)], now: now)
        #expect(served.contains { if case .query(1, [1]) = $0 { true } else { false } })
    }

    @Test(
        "A local snapshot that finishes in the same call as a newer snapshot from the leader arrives is not compacted over it: the node simulation's seed 82005 stopped a node this way"
    )
    func localSnapshotBehindLeadersSnapshot() throws {
        // Every 2 applied entries a snapshot is due: one starts at 3, and another would be due after it.
        var follower = try Self.follower(snapshotThreshold: 2)
        let entries = (1...3).map { Entry(term: 2, index: UInt64($0), payload: .command([UInt8($0)])) }
        let handed = Self.replicate(&follower, entries, prev: 0, commit: 3)
        _ = follower.applied(handed, results: [:], now: Self.start + Self.tick * 2)
        let local = try #require(follower.snapshotInFlight)
        #expect(local.index == 3)
        let leaders = SnapshotMetadata(index: 10, term: 2, configuration: follower.core.configuration)
        let actions = follower.handle(
            [.message(Message(from: 1, to: 2, term: 2, body: .installSnapshot(leaders)), snapshot: .bytes([1, 2, 3])), .snapshotWritten(local, failure: nil)],
            now: Self.start + Self.tick * 3)
        #expect(!actions.contains { if case .fail = $0 { true } else { false } }, "\(actions)")
        if case .persist = actions.last { _ = follower.persisted(now: Self.start + Self.tick * 3) }
        #expect(follower.applied == 10 && follower.lastSnapshotIndex == 10)
    }
}
