import Testing

@testable import RaftCore

@Suite("Check-quorum")
struct CheckQuorumTests {
    /// A 3-node cluster led by node 1 whose leader has just run a check-quorum round (on its 10th tick
    /// since the election): the heartbeats of that tick are still queued, so nothing was heard since.
    static func clusterRightAfterQuorumCheck(checkQuorum: Bool = true) throws -> TestNetwork {
        var network = try TestNetwork(voters: [1, 2, 3]) { $0.checkQuorum = checkQuorum }
        network.elect(1)
        network.tickAndStabilize(times: 9)
        for id in network.ids { network.tick(id) }
        #expect(network.node(1).electionElapsed == 0)
        #expect(network.node(1).role == .leader)
        return network
    }

    @Test("A leader that hears from no majority for an election timeout steps down, keeping its term")
    func isolatedLeaderStepsDown() throws {
        var network = try Self.clusterRightAfterQuorumCheck()
        network.isolate(1)
        network.stabilize()
        network.tickAndStabilize([1], times: 9)
        #expect(network.node(1).role == .leader)
        network.tickAndStabilize([1])
        #expect(network.node(1).role == .follower)
        #expect(network.node(1).leader == nil)
        #expect(network.node(1).term == 1)
        #expect(network.readyLog[1]?.last?.softState == SoftState(role: .follower, leader: nil))
        // Proposals are refused from now on.
        #expect(throws: RaftCoreError.self) { try network.propose(1, [1]) }
    }

    @Test("A leader that hears from a majority (itself and one of two followers) stays")
    func leaderWithMajorityStays() throws {
        var network = try Self.clusterRightAfterQuorumCheck()
        network.cut(1, 3)
        network.tickAndStabilize([1, 2], times: 50)
        #expect(network.node(1).role == .leader)
        #expect(network.node(1).term == 1)
    }

    @Test("A node that only receives (one-way partition) does not count: the leader steps down")
    func oneWayPartition() throws {
        var network = try Self.clusterRightAfterQuorumCheck()
        // The followers still get heartbeats but their answers are lost.
        network.drop(from: 2, to: 1)
        network.drop(from: 3, to: 1)
        network.tickAndStabilize([1, 2, 3], times: 9)
        #expect(network.node(1).role == .leader)
        network.tickAndStabilize([1, 2, 3])
        #expect(network.node(1).role == .follower)
    }

    @Test("Messages heard after a check keep the leader through the next one: it steps down after at most two timeouts")
    func stepDownWindow() throws {
        var network = try Self.clusterRightAfterQuorumCheck()
        network.stabilize()  // the followers' answers arrive after the check
        network.isolate(1)
        network.tickAndStabilize([1], times: 10)
        #expect(network.node(1).role == .leader, "it heard from both followers during this period")
        network.tickAndStabilize([1], times: 9)
        #expect(network.node(1).role == .leader)
        network.tickAndStabilize([1])
        #expect(network.node(1).role == .follower)
    }

    @Test("The rest of the cluster elects a new leader once the old one is gone")
    func majorityElectsNewLeader() throws {
        var network = try Self.clusterRightAfterQuorumCheck()
        network.isolate(1)
        network.tickAndStabilize(times: 40)
        #expect(network.node(1).role != .leader)
        #expect(network.leaders.count == 1)
        let leader = try #require(network.leaders.first)
        #expect(leader != 1)
        #expect(network.node(leader).term == 2)
    }

    @Test("Without check-quorum an isolated leader believes it leads forever")
    func withoutCheckQuorum() throws {
        var network = try Self.clusterRightAfterQuorumCheck(checkQuorum: false)
        network.isolate(1)
        network.tickAndStabilize([1], times: 100)
        #expect(network.node(1).role == .leader)
    }

    @Test("Without check-quorum, followers do not shield a leader that no longer hears anyone: a replacement is elected")
    func withoutCheckQuorumFollowersStillVote() throws {
        var network = try TestNetwork(voters: [1, 2, 3, 4, 5]) { $0.checkQuorum = false }
        network.elect(1)
        // Node 1 still reaches nodes 2 and 3 but hears from nobody, and nodes 4 and 5 hear nothing from it.
        for id: NodeID in [2, 3, 4, 5] { network.drop(from: id, to: 1) }
        network.drop(from: 1, to: 4)
        network.drop(from: 1, to: 5)
        var rounds = 0
        while !network.leaders.contains(where: { $0 != 1 }) {
            network.tickAndStabilize()
            rounds += 1
            try #require(rounds < 200, "no replacement leader: the cluster can never commit again")
        }
        let leader = try #require(network.leaders.first { $0 != 1 })
        try network.propose(leader, [1])
        network.tickAndStabilize(times: 3)
        #expect(network.appliedCommands(leader) == [[1]])
    }
}
