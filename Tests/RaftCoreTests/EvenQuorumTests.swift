import Testing

@testable import RaftCore

@Suite("Quorums of an even-sized cluster")
struct EvenQuorumTests {
    @Test("With four voters, two votes do not elect and three do")
    func twoOfFourVotesDoNotElect() throws {
        var network = try TestNetwork(voters: [1, 2, 3, 4]) { $0.preVote = false }
        #expect(network.node(1).configuration.quorum == 3)
        network.expireLeaderLeases()
        network.campaign(1)
        #expect(network.queue.map(\.to) == [2, 3, 4])
        network.deliverQueued(where: { $0.to == 2 })
        network.deliverQueued(where: { $0.kind == .voteResponse })
        #expect(network.node(1).role == .candidate, "itself and node 2: 2 of 4")
        network.deliverQueued(where: { $0.to == 3 })
        network.deliverQueued(where: { $0.kind == .voteResponse })
        #expect(network.node(1).role == .leader, "3 of 4")
        #expect(network.node(1).term == 1)
    }

    @Test("With four voters, two refusals defeat the candidate (it can no longer reach 3)")
    func twoRefusalsOfFourDefeat() throws {
        let states: [NodeID: RawNode.PersistentState] = [
            1: RawNode.PersistentState(hardState: HardState(term: 2), entries: commandLog(terms: [1])),
            2: RawNode.PersistentState(hardState: HardState(term: 2), entries: commandLog(terms: [1])),
            3: RawNode.PersistentState(hardState: HardState(term: 2), entries: commandLog(terms: [1, 2])),
            4: RawNode.PersistentState(hardState: HardState(term: 2), entries: commandLog(terms: [1, 2])),
        ]
        var network = try TestNetwork(membership: ClusterConfiguration(voters: [1, 2, 3, 4]), states: states) {
            $0.preVote = false
        }
        network.expireLeaderLeases()
        network.campaign(1)
        network.deliverQueued(where: { $0.to == 2 || $0.to == 3 })
        network.deliverQueued(where: { $0.kind == .voteResponse })
        #expect(network.node(1).role == .candidate, "one grant, one refusal: still undecided")
        network.deliverQueued(where: { $0.to == 4 })
        network.deliverQueued(where: { $0.kind == .voteResponse })
        #expect(network.node(1).role == .follower)
        #expect(network.node(1).term == 3)
    }

    @Test("With four voters, two acknowledgements do not commit and three do")
    func twoOfFourAcksDoNotCommit() throws {
        var network = try TestNetwork(voters: [1, 2, 3, 4])
        network.elect(1)
        #expect(network.node(1).commitIndex == 1)
        let (index, _) = try network.propose(1, [9])
        #expect(index == 2)
        #expect(network.queue.map(\.to) == [2, 3, 4])
        network.deliverQueued(where: { $0.to == 2 })
        network.deliverQueued(where: { $0.kind == .appendResponse })
        #expect(network.node(1).status.matchIndex[2] == 2)
        #expect(network.node(1).commitIndex == 1, "the leader and node 2: 2 of 4")
        #expect(network.appliedCommands(1).isEmpty)
        network.deliverQueued(where: { $0.to == 3 })
        network.deliverQueued(where: { $0.kind == .appendResponse })
        #expect(network.node(1).commitIndex == 2, "3 of 4")
        #expect(network.appliedCommands(1) == [[9]])
    }
}
