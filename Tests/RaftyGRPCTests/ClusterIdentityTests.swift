import Foundation
import Logging
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Testing

@Suite("Cluster and member identity over loopback gRPC", .serialized, .timeLimit(.minutes(3)))
struct ClusterIdentityTests {
    /// Runs `body` on a gRPC cluster whose transports' refusals land in `store`.
    func withCluster(
        size: Int, logging store: CapturingLogHandler.Store, configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void,
        _ body: (LocalCluster<RecordingStateMachine>) async throws -> Void
    ) async throws {
        let transports: @Sendable (NodeID) -> GRPCTransport.Configuration = { _ in
            var configuration = GRPCTransport.Configuration()
            configuration.logger = CapturingLogHandler.logger(store, label: "transport")
            return configuration
        }
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine() }
        try await LocalCluster.with(size: size, transport: .grpc, configure: configure, grpcConfiguration: transports, stateMachine: machines, body)
    }

    @Test("Nodes of clusters formed with different tokens refuse each other's messages")
    func otherCluster() async throws {
        let refusals = CapturingLogHandler.Store()
        let configure: @Sendable (inout RaftNode.Configuration) -> Void = { configuration in
            configuration.peers = []
            configuration.minimumClusterSize = 1
            configuration.clusterToken = configuration.id == 1 ? "blue" : "green"
        }
        try await self.withCluster(size: 2, logging: refusals, configure: configure) { cluster in
            try cluster.startAll()
            try await cluster.waitUntil("both lead their own cluster: \(cluster.describe())") {
                cluster.node(1).status.state == .leader && cluster.node(2).status.state == .leader
            }
            _ = try await cluster.node(2).submitCommand(Array("green".utf8))
            // Node 1 tries to bring node 2 into its cluster; node 2 refuses every message from it.
            _ = try await cluster.node(1).addMember(id: 2, address: cluster.address(2), asVoter: false)
            _ = try await cluster.node(1).submitCommand(Array("blue".utf8))
            try await cluster.waitUntil("node 2 refuses node 1") {
                refusals.contains("refused node 1") && refusals.contains("this node belongs to cluster")
            }
            let status = cluster.node(2).status
            #expect(status.state == .leader && status.leaderID == 2, "\(cluster.describe())")
            #expect(Set(status.roles.keys) == [2])
            #expect(cluster.stateMachine(2).appliedCommands == ["green"])

            // A request forwarded by a node of another cluster is refused too (not applied).
            // It forwards with the transport that serves it: that one presents its credentials.
            let outsider = GRPCTransport()
            defer { outsider.close() }
            let outsiderAddress = "127.0.0.1:\(freePort())"
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await outsider.serve(Outsider(), at: outsiderAddress) }
                try await cluster.waitUntil("the outsider serves") { (try? await outsider.askNodeID(at: outsiderAddress)) != nil }
                try await cluster.waitUntil("the outsider's forward is refused") {
                    do {
                        _ = try await outsider.forward(.submit(Array("outsider".utf8)), to: cluster.address(2), timeout: .seconds(1))
                        Issue.record("node 2 accepted a request forwarded from another cluster")
                        return true
                    } catch let error as RaftError {
                        return error.code == .rejected && error.message.contains("this node belongs to cluster")
                    }
                }
                group.cancelAll()
            }
            #expect(cluster.stateMachine(2).appliedCommands == ["green"])
        }
    }

    /// A node of cluster 0x99 that only forwards.
    struct Outsider: RaftTransportHandler {
        var nodeID: NodeID { 9 }
        var peerInfo: PeerInfo { PeerInfo(id: 9, isVoter: true) }
        var peerCredentials: PeerCredentials { PeerCredentials(clusterID: 0x99, incarnation: 1) }
        func receive(_ message: Message, snapshot: [UInt8]?) async {}
        func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
            throw RaftError(.notLeader, "an outsider")
        }
    }

    @Test("A member whose data directory was wiped comes back refused: it cannot vote until it is removed and added again")
    func wipedMember() async throws {
        let refusals = CapturingLogHandler.Store()
        // A node is cut off (setIsolated: a partition) where a graceful stop would hand leadership over.
        let configure: @Sendable (inout RaftNode.Configuration) -> Void = { $0.shutdownOnRemove = false }
        try await self.withCluster(size: 3, logging: refusals, configure: configure) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            var acknowledged: [String] = []
            for i in 0..<20 {
                _ = try await cluster.node(leader).submitCommand(Array("a\(i)".utf8))
                acknowledged.append("a\(i)")
            }
            // Every node learns every member's incarnation (from its messages, or by asking it).
            try await cluster.waitUntil("every node knows its peers' incarnations") {
                [1, 2, 3].map(NodeID.init).allSatisfy { id in
                    let directory = cluster.configuration(id).dataDirectory!
                    let known = (try? NodeIdentityStore(directory: directory))?.identity.peerIncarnations.keys
                    return Set(known ?? [:].keys) == Set([1, 2, 3].map(NodeID.init)).subtracting([id])
                }
            }
            // Node `wiped` (a follower) loses its data directory and comes back under its old id.
            let wiped = [1, 2, 3].map(NodeID.init).first { $0 != leader }!
            let other = [1, 2, 3].map(NodeID.init).first { $0 != leader && $0 != wiped }!
            await cluster.stop(wiped)
            try FileManager.default.removeItem(atPath: cluster.configuration(wiped).dataDirectory!)
            try cluster.start(wiped)
            try await cluster.waitUntil("the others refuse node \(wiped)") {
                refusals.contains("refused node \(wiped)") && refusals.contains("its data was lost")
            }
            // Cut off the leader: the wiped node's vote would elect `other`, which must not happen.
            cluster.setIsolated(leader, true)
            let configuration = cluster.configuration(other)
            let deadline = ContinuousClock.now + configuration.tickInterval * configuration.electionTicks * 10
            while ContinuousClock.now < deadline {
                #expect(cluster.node(other).status.state != .leader, "\(cluster.describe())")
                #expect(cluster.node(wiped).status.state != .leader, "\(cluster.describe())")
                try await Task.sleep(for: .milliseconds(50))
            }
            // The leader is back; the wiped node is removed and added again, and counts again.
            cluster.setIsolated(leader, false)
            let back = try await cluster.leader(excluding: [wiped])
            try await cluster.waitUntil("node \(other) knows the leader") { cluster.node(other).status.leaderID == back }
            _ = try await cluster.node(other).removeMember(id: wiped)
            _ = try await cluster.node(other).addMember(id: wiped, address: cluster.address(wiped))
            for i in 0..<20 {
                if (try? await cluster.node(other).submitCommand(Array("b\(i)".utf8))) != nil { acknowledged.append("b\(i)") }
            }
            try await cluster.waitUntil("node \(wiped) holds every acknowledged write") {
                Set(acknowledged).isSubset(of: Set(cluster.stateMachine(wiped).appliedCommands))
            }
            // Cut off whoever leads now: the two others, the wiped node one of them, elect a leader.
            let current = try await cluster.leader()
            cluster.setIsolated(current, true)
            let survivors = Set([1, 2, 3].map(NodeID.init)).subtracting([current])
            let newLeader = try await cluster.leader(excluding: [current])
            #expect(survivors.contains(newLeader))
            _ = try await cluster.node(newLeader).submitCommand(Array("c".utf8))
            for id in survivors {
                try await cluster.waitUntil("node \(id) applied every acknowledged write") {
                    Set(acknowledged + ["c"]).isSubset(of: Set(cluster.stateMachine(id).appliedCommands))
                }
            }
            cluster.setIsolated(current, false)
        }
    }
}
