import Testing

@testable import RaftCore

/// §5.4.1 election restriction and the leader-lease rule of Raft thesis §4.2.3.
@Suite("Vote requests")
struct VoteTests {
    /// Node 2 of {1, 2, 3} with log terms [1, 2, 2] in term 2, past its start-up lease.
    static func voter() throws -> TestNetwork {
        let state = RawNode.PersistentState(hardState: HardState(term: 2, commit: 1), entries: commandLog(terms: [1, 2, 2]))
        var network = try TestNetwork(
            membership: ClusterConfiguration(voters: [1, 2, 3]), states: [2: state])
        network.expireLeaderLeases()
        return network
    }

    static func vote(from candidate: NodeID, term: UInt64, lastIndex: UInt64, lastTerm: UInt64, preVote: Bool = false) -> Message {
        let request = VoteRequest(lastLogIndex: lastIndex, lastLogTerm: lastTerm)
        return Message(from: candidate, to: 2, term: term, body: preVote ? .preVote(request) : .vote(request))
    }

    @Test("A candidate whose last entry has a lower term is refused, however long its log")
    func lowerLastTermIsRefused() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 100, lastTerm: 1))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
        #expect(network.queue.last?.term == 3)
        #expect(network.node(2).term == 3, "the higher term is adopted even though the vote is refused")
        #expect(network.node(2).vote == nil)
        #expect(network.storage[2]?.hardState == HardState(term: 3, vote: nil, commit: 1))
    }

    @Test("A candidate with the same last term but a shorter log is refused")
    func shorterLogIsRefused() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 2, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
        #expect(network.node(2).vote == nil)
    }

    @Test("A candidate at least as up to date is granted; the vote is persisted before the answer leaves")
    func upToDateIsGranted() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 3, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: true))
        #expect(network.node(2).vote == 1)
        let ready = try #require(network.readyLog[2]?.last)
        #expect(ready.hardState == HardState(term: 3, vote: 1, commit: 1))
        #expect(ready.messages.isEmpty)
        #expect(ready.persistedMessages.map(\.body) == [.voteResponse(granted: true)], "sent only after the vote is durable")
        #expect(ready.mustSync)
    }

    @Test("A higher last term wins over a longer log")
    func higherLastTermIsGranted() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 3, term: 3, lastIndex: 2, lastTerm: 3))
        #expect(network.queue.last?.body == .voteResponse(granted: true))
        #expect(network.node(2).vote == 3)
    }

    @Test("One vote per term: a second candidate of the same term is refused, the same one granted again")
    func oneVotePerTerm() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 3, lastTerm: 2))
        network.inject(Self.vote(from: 3, term: 3, lastIndex: 9, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 3, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: true), "a retried request is answered the same")
        #expect(network.node(2).vote == 1)
        // A restart does not forget the vote.
        network.stop(2)
        try network.start(2)
        network.expireLeaderLeases()
        network.inject(Self.vote(from: 3, term: 3, lastIndex: 9, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
    }

    @Test("Pre-votes follow the same log rule and never record a vote")
    func preVoteLogCheck() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 2, lastTerm: 2, preVote: true))
        #expect(network.queue.last?.body == .preVoteResponse(granted: false))
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 3, lastTerm: 2, preVote: true))
        #expect(network.queue.last?.body == .preVoteResponse(granted: true))
        #expect(network.node(2).term == 2)
        #expect(network.node(2).vote == nil)
    }

    @Test("The configuration is not consulted (thesis §4.1): a candidate unknown as a voter is judged on term and log alone")
    func configurationIsNotConsulted() throws {
        var network = try Self.voter()
        network.inject(Self.vote(from: 9, term: 3, lastIndex: 2, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: false), "its log is behind")
        network.inject(Self.vote(from: 9, term: 3, lastIndex: 3, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: true))
        #expect(network.node(2).vote == 9)
        // One vote per term still holds.
        network.inject(Self.vote(from: 1, term: 3, lastIndex: 3, lastTerm: 2))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
    }

    @Test("A node that heard from its leader within the election timeout ignores (pre-)votes with a higher term")
    func leaderLeaseIgnoresVotes() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.tickAndStabilize(times: 3)
        #expect(network.node(2).leader == 1)
        network.queue.removeAll()
        let candidateLog = (network.node(1).lastIndex, network.node(1).term(at: network.node(1).lastIndex)!)
        for preVote in [true, false] {
            network.inject(
                Message(
                    from: 3, to: 2, term: 2,
                    body: preVote
                        ? .preVote(VoteRequest(lastLogIndex: candidateLog.0, lastLogTerm: candidateLog.1))
                        : .vote(VoteRequest(lastLogIndex: candidateLog.0, lastLogTerm: candidateLog.1))))
            #expect(network.queue.isEmpty, "no answer at all")
            #expect(network.node(2).term == 1)
            #expect(network.node(2).vote == 1)
            #expect(network.node(2).leader == 1)
        }
        // The leader itself ignores them too.
        network.inject(Message(from: 3, to: 1, term: 2, body: .vote(VoteRequest(lastLogIndex: 99, lastLogTerm: 1))))
        #expect(network.node(1).role == .leader)
        #expect(network.node(1).term == 1)

        // Once a full election timeout passes without the leader, the same request is honoured.
        network.isolate(1)
        network.tick(2, times: network.node(2).options.electionTimeout)
        network.queue.removeAll()
        network.inject(Message(from: 3, to: 2, term: 2, body: .vote(VoteRequest(lastLogIndex: candidateLog.0, lastLogTerm: candidateLog.1))))
        #expect(network.queue.last?.body == .voteResponse(granted: true))
        #expect(network.node(2).term == 2)
        #expect(network.node(2).vote == 3)
    }

    @Test("A freshly restarted node honours a lease it may have granted before the crash")
    func startupLease() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.stop(2)
        try network.start(2)
        network.inject(Message(from: 3, to: 2, term: 2, body: .vote(VoteRequest(lastLogIndex: 5, lastLogTerm: 1))))
        #expect(network.queue.isEmpty)
        #expect(network.node(2).term == 1)
    }
}
