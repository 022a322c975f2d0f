import RaftCore
import Rafty
import RaftyTestSupport
import Testing

@Suite("The in-memory log keeps no applied commands beyond inMemoryLogBytes", .timeLimit(.minutes(1)))
struct InMemoryLogBoundTests {
    @Test("With inMemoryLogBytes 0, a follower that was down catches up from commands the leader reads back from its log store")
    func followerCatchesUpFromTheLogStore() async throws {
        let cluster = TestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) { $0.inMemoryLogBytes = 0 } }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            _ = try await cluster.node(leader).submitCommand(Array("before=1".utf8))
            try await eventually("the follower applied the first command") { cluster.machine(follower).appliedCommands == ["before=1"] }
            await cluster.node(follower).stop()
            try await eventually("the follower stopped") { cluster.node(follower).status.state == .down }
            var expected = ["before=1"]
            for i in 0..<40 {
                let command = "missed\(i)=" + String(repeating: "v", count: 1_000 + i)
                _ = try await cluster.node(leader).submitCommand(Array(command.utf8))
                expected.append(command)
            }
            try cluster.start(follower, in: &group) { $0.inMemoryLogBytes = 0 }
            try await eventually("the restarted follower caught up") { cluster.machine(follower).appliedCommands == expected }
            #expect(cluster.node(leader).status.leaderID == leader, "no leader change needed")
            await cluster.stopAll()
        }
    }
}
