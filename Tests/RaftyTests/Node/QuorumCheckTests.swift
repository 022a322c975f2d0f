import RaftCore
import Testing

@testable import Rafty

/// The quorum check before removing a voter, on a leader that just took over.
@Suite("Membership quorum check")
struct QuorumCheckTests {
    typealias Engine = NodeEngineTests

    /// Node 2 of five wins an election with the votes of 1 and 3, then is asked to remove 1 (as
    /// a leader removal redirected after a hand-off is): of the voters left it has heard only from
    /// 3, two of the three a quorum needs. It waits for its heartbeats to be answered instead of
    /// refusing at once; it refuses once an election timeout passed without them.
    static func newLeader() throws -> (engine: NodeEngine, now: ContinuousClock.Instant) {
        var engine = try Engine.engine(id: 2, voters: [1, 2, 3, 4, 5]) { $0.preVote = false }
        var now = Engine.start
        var campaigned = false
        for _ in 0..<200 where !campaigned {
            now += Engine.tick
            var actions = engine.handle([], now: now)
            if case .persist = actions.last { actions += engine.persisted(now: now) }
            campaigned = Engine.sends(actions).contains { if case .vote = $0.body { true } else { false } }
        }
        #expect(campaigned && engine.core.role == .candidate)
        let term = engine.core.term
        for voter: NodeID in [1, 3] {
            let actions = engine.handle([.message(Message(from: voter, to: 2, term: term, body: .voteResponse(granted: true)), snapshot: nil)], now: now)
            if case .persist = actions.last { _ = engine.persisted(now: now) }
        }
        #expect(engine.core.role == .leader)
        return (engine, now)
    }

    @Test("A leader that just took over waits for its peers' answers before refusing a removal for want of a quorum")
    func newLeaderWaitsForAnswers() throws {
        var (engine, now) = try Self.newLeader()
        var actions = engine.handle([.request(9, .membership(.remove(id: 1)), deadline: now + .seconds(10))], now: now)
        #expect(Engine.refusal(actions, 9) == nil, "refused before its heartbeats could be answered")
        let term = engine.core.term
        now += Engine.tick
        let answer = Message(from: 4, to: 2, term: term, body: .appendResponse(AppendResponse(index: engine.core.lastIndex)))
        actions = engine.handle([.message(answer, snapshot: nil)], now: now)
        if case .persist = actions.last { actions += engine.persisted(now: now) }
        #expect(Engine.refusal(actions, 9) == nil)
        // The check passed: the demotion of 1 is next (proposed once the new leader's first entry commits).
        guard case .propose(let change)? = engine.membershipOperation?.steps.first else {
            Issue.record("the quorum check did not pass with 4 heard from: \(String(describing: engine.membershipOperation?.steps))")
            return
        }
        #expect(change.kind == .demote && change.node == 1)
    }

    @Test("Without answers from enough of the voters left, the removal is refused once an election timeout passed")
    func refusedWithoutAnswers() throws {
        var (engine, now) = try Self.newLeader()
        var actions = engine.handle([.request(9, .membership(.remove(id: 1)), deadline: now + .seconds(10))], now: now)
        #expect(Engine.refusal(actions, 9) == nil)
        var refusal: RaftError?
        var ticks = 0
        while refusal == nil && ticks < 100 {
            ticks += 1
            now += Engine.tick
            // 1 and 3 answer (the leader keeps its quorum); 4 and 5 never do.
            let answers = [1, 3].map { (voter: NodeID) in
                NodeInput.message(
                    Message(from: voter, to: 2, term: engine.core.term, body: .appendResponse(AppendResponse(index: 0, rejected: true))), snapshot: nil)
            }
            actions = engine.handle(answers, now: now)
            if case .persist = actions.last { actions += engine.persisted(now: now) }
            refusal = Engine.refusal(actions, 9)
        }
        #expect(engine.core.role == .leader)
        #expect(refusal?.code == .rejected && refusal?.message.contains("reachable") == true, "\(String(describing: refusal))")
        #expect(ticks >= 10, "refused after \(ticks) ticks, before an election timeout")
    }
}
