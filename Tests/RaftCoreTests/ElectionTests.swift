import Testing

@testable import RaftCore

@Suite("Elections and basic replication")
struct ElectionTests {
    @Test("A single-node cluster elects itself at once and commits its no-op")
    func singleNode() throws {
        var network = try TestNetwork(voters: [1])
        network.campaign(1)
        network.stabilize()
        let node = network.node(1)
        #expect(node.role == .leader)
        #expect(node.term == 1)
        #expect(node.commitIndex == 1)
        #expect(network.applied[1]?.map(\.payload) == [.noop])
        try network.propose(1, [42])
        #expect(network.node(1).commitIndex == 2)
        #expect(network.appliedCommands(1) == [[42]])
    }

    @Test("Three nodes elect a leader through pre-vote and vote; the no-op commits everywhere")
    func threeNodeElection() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.expireLeaderLeases([2, 3])
        network.campaign(1)
        #expect(network.node(1).role == .preCandidate)
        #expect(network.node(1).term == 0, "a pre-candidate does not bump its term")
        #expect(network.queue.map(\.kind) == [.preVote, .preVote])
        #expect(network.queue.map(\.term) == [1, 1])
        network.deliverQueued()
        // Both grants queued; the first makes a quorum of 2 with the self-vote.
        network.deliverQueued(where: { $0.kind == .preVoteResponse && $0.from == 2 })
        #expect(network.node(1).role == .candidate)
        #expect(network.node(1).term == 1)
        #expect(network.storage[1]?.hardState == HardState(term: 1, vote: 1, commit: 0))
        network.stabilize()
        for id: NodeID in [1, 2, 3] {
            let node = network.node(id)
            #expect(node.role == (id == 1 ? .leader : .follower))
            #expect(node.term == 1)
            #expect(node.leader == 1)
            #expect(node.commitIndex == 1)
            #expect(network.applied[id]?.map(\.payload) == [.noop])
            #expect(network.storage[id]?.entries == network.log(1))
        }
        #expect(network.storage[2]?.hardState.vote == 1)
    }

    @Test("Election timeouts alone elect exactly one leader")
    func electionByTicks() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        var rounds = 0
        while network.leaders.isEmpty {
            network.tickAndStabilize()
            rounds += 1
            try #require(rounds < 100)
        }
        #expect(network.leaders.count == 1)
        #expect(rounds >= 10, "nobody campaigns before an election timeout")
        let leader = network.leaders[0]
        network.tickAndStabilize(times: 50)
        #expect(network.leaders == [leader], "heartbeats keep the leader in place")
        for id in network.ids {
            #expect(network.node(id).leader == leader)
            #expect(network.node(id).term == network.node(leader).term)
        }
    }

    @Test("Proposals replicate, commit and apply in order on every node")
    func proposalsReplicate() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        for byte: UInt8 in 1...5 { try network.propose(1, [byte]) }
        network.stabilize()
        for id in network.ids {
            #expect(network.node(id).commitIndex == 6)
            #expect(network.appliedCommands(id) == [[1], [2], [3], [4], [5]])
            #expect(network.log(id) == network.log(1))
            #expect(network.storage[id]?.hardState.commit == 6)
        }
    }

    @Test("Followers refuse proposals with notLeader naming the leader")
    func followerRefusesProposals() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        #expect {
            try network.propose(2, [1])
        } throws: { error in
            let error = error as! RaftCoreError
            return error.code == .notLeader && error.leader == 1
        }
    }

    @Test("A restarted node recovers term, vote, log and commit from storage and re-applies")
    func restart() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        try network.propose(1, [7])
        try network.propose(1, [8])
        network.stabilize()
        let before = network.node(2)
        network.stop(2)
        try network.start(2)
        let after = network.node(2)
        #expect(after.term == before.term)
        #expect(after.vote == before.vote)
        #expect(after.lastIndex == before.lastIndex)
        #expect(after.commitIndex == before.commitIndex)
        #expect(after.role == .follower)
        #expect(after.leader == nil)
        network.processReady(2)
        #expect(network.appliedCommands(2) == [[7], [8]])
        // It rejoins without disturbing anyone.
        network.tickAndStabilize(times: 3)
        #expect(network.node(2).leader == 1)
        #expect(network.node(1).term == before.term)
    }
}
