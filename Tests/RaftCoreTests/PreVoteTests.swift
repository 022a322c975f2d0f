import Testing

@testable import RaftCore

@Suite("Pre-vote (Raft thesis §9.6)")
struct PreVoteTests {
    @Test("A partitioned node keeps its term while its pre-votes fail, and rejoins without disrupting the leader")
    func partitionedNodeDoesNotDisrupt() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        #expect(network.node(1).term == 1)
        network.isolate(3)
        var sawPreCandidate = false
        for _ in 0..<100 {
            network.tickAndStabilize()
            if network.node(3).role == .preCandidate { sawPreCandidate = true }
            #expect(network.node(3).term == 1)
            #expect(network.node(3).role != .candidate)
        }
        #expect(sawPreCandidate, "the isolated node tried to campaign")
        #expect(network.storage[3]?.hardState.term == 1)
        let fromThree = network.sent.filter { $0.from == 3 }
        #expect(fromThree.contains { $0.kind == .preVote && $0.term == 2 }, "pre-votes ask for the next term")
        #expect(!fromThree.contains { $0.kind == .vote }, "a failed pre-vote never starts a real election")
        // The majority side carried on.
        try network.propose(1, [1])
        network.stabilize()
        #expect(network.node(2).commitIndex == network.node(1).lastIndex)

        network.recover()
        for _ in 0..<30 {
            network.tickAndStabilize()
            #expect(network.leaders == [1])
            #expect(network.ids.allSatisfy { network.node($0).term == 1 })
        }
        #expect(network.node(3).role == .follower)
        #expect(network.node(3).leader == 1)
        #expect(network.log(3) == network.log(1), "the rejoined node caught up")
        #expect(network.appliedCommands(3) == [[1]])
    }

    @Test("Without pre-vote the partitioned node bumps its term and deposes the leader when it rejoins")
    func withoutPreVoteTheLeaderIsDisrupted() throws {
        var network = try TestNetwork(voters: [1, 2, 3]) { $0.preVote = false }
        network.elect(1)
        network.isolate(3)
        network.tickAndStabilize(times: 100)
        let inflated = network.node(3).term
        #expect(inflated > 2, "each election timeout starts a real election in a new term")
        #expect(network.node(3).role == .candidate)
        #expect(network.leaders == [1])
        #expect(network.node(1).term == 1)

        network.recover()
        network.queue.removeAll()
        // The leader's next heartbeat reaches node 3, which answers with its higher term.
        network.tick(1)
        network.deliverQueued(where: { $0.kind == .heartbeat && $0.to == 3 })
        let answer = try #require(network.queue.first { $0.from == 3 && $0.to == 1 })
        #expect(answer.term == inflated)
        #expect(answer.appendResponse?.rejected == true)
        network.deliver(answer)
        #expect(network.node(1).role == .follower, "the leader was disrupted")
        #expect(network.node(1).term == inflated)
        // A new election follows, in a term above the inflated one.
        var rounds = 0
        while network.leaders.isEmpty {
            network.tickAndStabilize()
            rounds += 1
            try #require(rounds < 100)
        }
        #expect(network.node(network.leaders[0]).term > inflated)
    }

    @Test("A pre-vote never changes the term or the vote of the node that answers it")
    func preVoteRequestChangesNothing() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.expireLeaderLeases()
        network.inject(Message(from: 1, to: 2, term: 5, body: .preVote(VoteRequest(lastLogIndex: 0, lastLogTerm: 0))))
        #expect(network.node(2).term == 0)
        #expect(network.node(2).vote == nil)
        #expect(network.storage[2]?.hardState == HardState())
        let answer = try #require(network.queue.last)
        #expect(answer.body == .preVoteResponse(granted: true))
        #expect(answer.term == 5, "a granted pre-vote echoes the term the candidate would campaign in")
    }

    @Test("A node whose pre-vote is refused by a majority returns to follower in the same term")
    func refusedPreVote() throws {
        let states: [NodeID: RawNode.PersistentState] = [
            1: RawNode.PersistentState(hardState: HardState(term: 1), entries: [commandEntry(index: 1, term: 1)]),
            2: RawNode.PersistentState(hardState: HardState(term: 1), entries: commandLog(terms: [1, 1])),
            3: RawNode.PersistentState(hardState: HardState(term: 1), entries: commandLog(terms: [1, 1])),
        ]
        var network = try TestNetwork(membership: ClusterConfiguration(voters: [1, 2, 3]), states: states)
        network.expireLeaderLeases()
        network.campaign(1)
        network.stabilize()
        #expect(network.node(1).role == .follower)
        #expect(network.node(1).term == 1)
        #expect(network.ids.allSatisfy { network.node($0).term == 1 && network.node($0).vote == nil })
    }
}
