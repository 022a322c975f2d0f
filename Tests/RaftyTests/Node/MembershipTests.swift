import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Testing

@Suite("RaftNode membership changes", .timeLimit(.minutes(1)))
struct MembershipTests {
    /// Starts nodes 1...3 as a cluster of three (peers: each other only).
    func startThree(_ cluster: TestCluster) throws {
        for id in UInt64(1)...3 {
            try cluster.start(id) { configuration in
                configuration.peers = (UInt64(1)...3).filter { $0 != id }.map(cluster.address)
                configuration.memberCatchUpTimeout = .seconds(1)
            }
        }
    }

    /// Starts `id` as a joining node that knows only node 1.
    func startJoiner(_ id: NodeID, _ cluster: TestCluster) throws {
        try cluster.start(id) { configuration in
            configuration.startMode = .join
            configuration.peers = [cluster.address(1)]
        }
    }

    @Test("Grow 3 → 5 under writes (asked of a follower and of the leader), then shrink 5 → 3 removing the leader; nothing acknowledged is lost")
    func growAndShrink() async throws {
        let cluster = TestCluster(size: 5)
        try await cluster.run {
            try self.startThree(cluster)
            try self.startJoiner(4, cluster)
            try self.startJoiner(5, cluster)
            var leader = try await cluster.leader()
            #expect(!cluster.node(4).status.isMember)
            var acknowledged: [String] = []
            for i in 0..<5 {
                _ = try await cluster.node(leader).submitCommand(Array("a\(i)=v".utf8))
                acknowledged.append("a\(i)=v")
            }
            let follower = leader % 3 + 1
            try await eventually("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }
            try await cluster.node(follower).addMember(id: 4, address: cluster.address(4))
            try await cluster.node(leader).addMember(id: 5, address: cluster.address(5))
            #expect(cluster.node(leader).status.roles == [1: true, 2: true, 3: true, 4: true, 5: true])
            try await eventually("node 5 knows it is a member") { cluster.node(5).status.isMember }
            for i in 0..<5 {
                _ = try await cluster.node(5).submitCommand(Array("b\(i)=v".utf8))
                acknowledged.append("b\(i)=v")
            }
            try await eventually("the new nodes applied everything") {
                cluster.stateMachine(4).appliedCommands == acknowledged && cluster.stateMachine(5).appliedCommands == acknowledged
            }

            // Shrink: remove the leader (it hands over first), then one more.
            let removedLeader = leader
            try await cluster.node(removedLeader).removeMember(id: removedLeader)
            leader = try await cluster.leader(excluding: [removedLeader])
            let other = [1, 2, 3, 4, 5].map(NodeID.init).first { $0 != leader && $0 != removedLeader }!
            try await cluster.node(other).removeMember(id: other)
            let remaining = Set([1, 2, 3, 4, 5].map(NodeID.init)).subtracting([removedLeader, other])
            #expect(Set(cluster.node(leader).status.roles.keys) == remaining)
            for i in 0..<5 {
                _ = try await cluster.node(leader).submitCommand(Array("c\(i)=v".utf8))
                acknowledged.append("c\(i)=v")
            }
            try await eventually("the remaining members applied everything") {
                remaining.allSatisfy { cluster.stateMachine($0).appliedCommands == acknowledged }
            }
            try await eventually("the removed nodes learn it and stop themselves (shutdownOnRemove)") {
                cluster.node(removedLeader).status.state == .down && cluster.node(other).status.state == .down
            }
        }
    }

    @Test("One change at a time; nonsense is refused; demoting would-be-quorum-breaking voters is refused")
    func refusals() async throws {
        let cluster = TestCluster(size: 5)
        cluster.setIsolated(5, true)  // node 5 never answers
        try await cluster.run {
            try self.startThree(cluster)
            let leader = try await cluster.leader()
            let node = cluster.node(leader)
            await #expect(throws: RaftError.self) { try await node.addMember(id: leader % 3 + 1, address: "127.0.0.1:1") }
            await #expect(throws: RaftError.self) { try await node.promote(id: 2) }
            await #expect(throws: RaftError.self) { try await node.removeMember(id: 9) }

            // Node 5 is unreachable: its promotion cannot finish; a second change meanwhile is refused.
            async let slow = node.addMember(id: 5, address: cluster.address(5), asVoter: true, timeout: .seconds(20))
            try await eventually("node 5 was added as a read-only member") { node.status.roles[5] == false }
            do {
                try await node.addMember(id: 4, address: cluster.address(4))
                Issue.record("a second change must wait")
            } catch let error as RaftError {
                #expect(error.code == .membershipChangeInProgress)
            }
            do {
                _ = try await slow
                Issue.record("an unreachable node cannot catch up")
            } catch let error as RaftError {
                #expect(error.code == .tooSlow, "\(error)")
            }
            #expect(node.status.roles[5] == false, "it stays a read-only member")

            // With one of the three voters cut off, demoting another would leave one reachable voter of two.
            let isolated = leader % 3 + 1
            let other = (leader + 1) % 3 + 1
            cluster.setIsolated(isolated, true)
            let window = cluster.configuration(leader).tickInterval * 20  // two election timeouts
            try await eventually("the leader has not heard from node \(isolated) for two election timeouts") {
                guard let contact = node.status.member(isolated)?.lastContact else { return false }
                return ContinuousClock.now - contact > window
            }
            do {
                try await node.demote(id: other)
                Issue.record("two voters of which one is unreachable cannot form a quorum")
            } catch let error as RaftError {
                #expect(error.code == .rejected && error.message.contains("reachable"), "\(error)")
            }
            #expect(node.status.roles[other] == true)
            cluster.setIsolated(isolated, false)
        }
    }

    @Test("A node with leaveOnStop removes itself when it stops; a joining node never campaigns")
    func leaveOnStop() async throws {
        let cluster = TestCluster(size: 4)
        try await cluster.run {
            try self.startThree(cluster)
            try cluster.start(4) { configuration in
                configuration.startMode = .join
                configuration.leaveOnStop = true
                configuration.peers = [cluster.address(2)]
            }
            let leader = try await cluster.leader()
            #expect(cluster.node(4).status.state == .follower && !cluster.node(4).status.isMember)
            try await cluster.node(leader).addMember(id: 4, address: cluster.address(4))
            try await eventually("node 4 knows it is a voter") { cluster.node(4).status.roles[4] == true }
            await cluster.node(4).stop()
            try await eventually("node 4 left") { cluster.node(leader).status.roles[4] == nil }
            _ = try await cluster.node(leader).submitCommand(Array("after=v".utf8))
        }
    }
}

@Suite("RaftNode bootstrap and single-server clusters", .timeLimit(.minutes(1)))
struct BootstrapTests {
    @Test("Nodes waiting for a bootstrap never campaign; one bootstrap call forms the cluster; a second is rejected")
    func bootstrap() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) { $0.startMode = .awaitBootstrap } }
            // Until the bootstrap call, every node is a follower outside any configuration, without a leader.
            let watched = cluster.node(1).events()
            try await eventually("every node knows its peers") { cluster.ids.allSatisfy { cluster.node($0).status.state == .follower } }
            #expect(cluster.ids.allSatisfy { !cluster.node($0).status.isMember })
            #expect(cluster.ids.allSatisfy { cluster.node($0).status.leaderID == nil })

            var members: [NodeID] = []
            try await eventually("node 2 bootstraps once its peers' ids are known") {
                do {
                    members = try await cluster.node(2).bootstrap()
                    return true
                } catch {
                    return false
                }
            }
            #expect(Set(members) == [1, 2, 3])
            // Node 1's first role change came from the bootstrapped leader (a leader change), never a campaign of its own.
            for await event in watched {
                if case .stateChanged(let state, _) = event { #expect(state == .follower) }
                if case .leaderChanged(let leader?, _) = event {
                    #expect(leader == 2)
                    break
                }
            }
            #expect(cluster.node(2).status.roles == [1: true, 2: true, 3: true])
            await #expect(throws: RaftError.self) { try await cluster.node(2).bootstrap() }
            try await eventually("node 3 knows the leader") { cluster.node(3).status.leaderID == 2 }
            await #expect(throws: RaftError.self) { try await cluster.node(3).bootstrap() }
            _ = try await cluster.node(1).submitCommand(Array("k=v".utf8))
            try await eventually("every node applied the command") {
                cluster.ids.allSatisfy { cluster.stateMachine($0).appliedCommands == ["k=v"] }
            }
        }
    }
}
