import RaftCore
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

@testable import Rafty

/// The runtime records each voter's data-directory incarnation in the configuration (see
/// ``NodeIdentity``); the node simulation's `unheardWipe` test shows what that prevents.
@Suite("Member incarnations in the configuration", .timeLimit(.minutes(1)))
struct MemberIncarnationTests {
    static func identity(_ node: RaftNode) -> NodeIdentity? { node.identityStore.withLock { $0 }?.identity }

    static func incarnations(of cluster: TestCluster, _ ids: ClosedRange<NodeID>) -> [NodeID: UInt64] {
        var incarnations: [NodeID: UInt64] = [:]
        for id in ids { incarnations[id] = Self.identity(cluster.node(id))?.incarnation ?? 0 }
        return incarnations
    }

    /// The peer incarnations node `id` expects, leaving `excluded` out.
    static func known(by id: NodeID, in cluster: TestCluster, except excluded: NodeID) -> [NodeID: UInt64] {
        (Self.identity(cluster.node(id))?.peerIncarnations ?? [:]).filter { $0.key != excluded }
    }

    static func everyoneKnows(_ incarnations: [NodeID: UInt64], in cluster: TestCluster) -> Bool {
        incarnations.keys.allSatisfy { id in Self.identity(cluster.node(id))?.peerIncarnations == incarnations.filter { $0.key != id } }
    }

    /// Starts nodes `ids`, each with the others as its peers: they form a cluster.
    static func formCluster(of cluster: TestCluster, _ ids: ClosedRange<NodeID>) throws {
        for id in ids {
            try cluster.start(id) { configuration in
                configuration.peers = ids.filter { $0 != id }.map(cluster.address)
            }
        }
    }

    @Test("Formation records every node's incarnation from discovery, a promotion records the new voter's; every member then expects them")
    func recordedAtFormationAndPromotion() async throws {
        let cluster = TestCluster(size: 4)
        try await cluster.run {
            try Self.formCluster(of: cluster, 1...3)
            try cluster.start(4) { configuration in
                configuration.startMode = .join
                configuration.peers = [cluster.address(1)]
            }
            // Known as soon as each node runs the configuration: no message between the followers needed.
            try await eventually("nodes 1...3 run the first configuration") {
                (UInt64(1)...3).allSatisfy { !cluster.node($0).status.members.isEmpty }
            }
            let incarnations = Self.incarnations(of: cluster, 1...4)
            for id in UInt64(1)...3 {
                #expect(Self.known(by: id, in: cluster, except: 4) == incarnations.filter { $0.key != id && $0.key != 4 }, "node \(id)")
            }
            let leader = try await cluster.leader()
            try await cluster.node(leader).addMember(id: 4, address: cluster.address(4))
            try await eventually(
                "every member expects every other's incarnation: \(incarnations) vs \((UInt64(1)...4).map { Self.identity(cluster.node($0))?.peerIncarnations ?? [:] }) config \(cluster.node(1).status.members)"
            ) {
                Self.everyoneKnows(incarnations, in: cluster)
            }
        }
    }

    @Test("A removed member's old process does not teach its incarnation again: its fresh data, added again, is admitted")
    func removedMemberIsNotLearnedAgain() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            try Self.formCluster(of: cluster, 1...3)
            let leader = try await cluster.leader()
            let removed = (UInt64(1)...3).first { $0 != leader }!
            let node = cluster.node(leader)
            let clusterID = try #require(Self.identity(node)).clusterID
            let old = try #require(Self.identity(cluster.node(removed))).incarnation
            try await eventually("the leader knows node \(removed)'s incarnation") { Self.identity(node)?.peerIncarnations[removed] == old }
            _ = try await node.removeMember(id: removed)
            try await eventually("the leader forgot node \(removed)'s incarnation") { Self.identity(node)?.peerIncarnations[removed] == nil }
            // The removed member's old process sends again: admitted, and not learned.
            #expect(node.admit(removed, presenting: PeerCredentials(clusterID: clusterID, incarnation: old)) == nil)
            #expect(Self.identity(node)?.peerIncarnations[removed] == nil)
            // Wiped, it comes back with a new incarnation to be added again: not refused as replaced data.
            #expect(node.admit(removed, presenting: PeerCredentials(clusterID: clusterID, incarnation: old &+ 1)) == nil)
        }
    }
}
