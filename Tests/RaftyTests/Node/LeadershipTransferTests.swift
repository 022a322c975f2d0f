import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Testing

@Suite("RaftNode.transferLeadership", .timeLimit(.minutes(1)))
struct LeadershipTransferTests {
    @Test("Transfer to each node in turn, asked of the leader and of a follower; commands before survive")
    func transferToEachNode() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            var leader = try await cluster.leader()
            for (round, target) in ([leader % 3 + 1, (leader + 1) % 3 + 1, leader]).enumerated() {
                _ = try await cluster.node(leader).submitCommand(Array("k\(round)=v".utf8))
                // Even rounds ask the leader, odd ones a follower (forwarded).
                let asked = round.isMultiple(of: 2) ? leader : cluster.ids.first { $0 != leader && $0 != target } ?? target
                let newLeader = try await cluster.node(asked).transferLeadership(to: target)
                #expect(newLeader == target)
                leader = try await cluster.leader()
                #expect(leader == target)
            }
            _ = try await cluster.node(leader).submitCommand(Array("last=v".utf8))
            try await eventually("every node applied all four commands") {
                cluster.ids.allSatisfy { cluster.stateMachine($0).appliedCommands.count == 4 }
            }
        }
    }

    @Test("Without a target the most up-to-date other voter takes over")
    func transferToAnyVoter() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            let leader = try await cluster.leader()
            let newLeader = try await cluster.node(leader).transferLeadership()
            #expect(newLeader != leader)
            #expect(try await cluster.leader() == newLeader)
            #expect(try await cluster.node(leader).transferLeadership(to: newLeader) == newLeader, "already the leader")
        }
    }

    @Test("An unknown target is rejected; an unreachable target fails after an election timeout and leadership stays")
    func transferFailures() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            let leader = try await cluster.leader()
            await #expect(throws: RaftError.self) { try await cluster.node(leader).transferLeadership(to: 99) }
            let target = leader % 3 + 1
            cluster.setIsolated(target, true)
            do {
                _ = try await cluster.node(leader).transferLeadership(to: target, timeout: .seconds(10))
                Issue.record("an isolated target cannot take over")
            } catch let error as RaftError {
                #expect(error.code == .rejected)
            }
            #expect(cluster.node(leader).status.state == .leader)
            _ = try await cluster.node(leader).submitCommand(Array("after=v".utf8))
            cluster.setIsolated(target, false)
        }
    }
}
