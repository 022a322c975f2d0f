import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import Synchronization
import Testing

@Suite("Membership changes over loopback gRPC", .serialized, .timeLimit(.minutes(3)))
struct GRPCMembershipTests {
    func startFounders(
        _ cluster: GRPCTestCluster, in group: inout ThrowingDiscardingTaskGroup<any Error>, transports: [NodeID: any RaftTransport] = [:]
    ) throws {
        for id in UInt64(1)...3 {
            try cluster.start(id, in: &group, transport: transports[id]) { configuration in
                configuration.peers = (UInt64(1)...3).filter { $0 != id }.map(cluster.address)
            }
        }
    }

    func startJoiner(_ id: NodeID, _ cluster: GRPCTestCluster, in group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        try cluster.start(id, in: &group) { configuration in
            configuration.startMode = .join
            configuration.peers = [cluster.address(1)]
        }
    }

    func verify(_ acknowledged: [String], on nodes: [NodeID], _ cluster: GRPCTestCluster) async throws {
        for node in nodes {
            for write in acknowledged {
                let parts = write.split(separator: "=").map(String.init)
                let value = try await cluster.node(node).read(Array(parts[0].utf8), consistency: .linearizable)
                #expect(String(decoding: value, as: UTF8.self) == parts[1], "node \(node), \(write)")
            }
        }
    }

    @Test("Replace a node: add a new one, remove the old one; the cluster keeps committing and closes its connections to the old one")
    func replaceNode() async throws {
        let cluster = GRPCTestCluster(size: 4)
        let grpc = Dictionary(uniqueKeysWithValues: (UInt64(1)...3).map { ($0, GRPCTransport()) })
        let recorders = grpc.mapValues { RecordingTransport($0) }
        try await withThrowingDiscardingTaskGroup { group in
            try self.startFounders(cluster, in: &group, transports: recorders)
            try self.startJoiner(4, cluster, in: &group)
            let leader = try await cluster.leader()
            let old = leader % 3 + 1
            _ = try await cluster.node(leader).submitCommand(Array("before=1".utf8))
            try await cluster.node(old).addMember(id: 4, address: cluster.address(4))
            try await cluster.node(leader).removeMember(id: old)
            await cluster.node(old).stop()
            let members = (UInt64(1)...4).filter { $0 != old }
            #expect(Set(cluster.node(leader).status.roles.keys) == Set(members))
            _ = try await cluster.node(4).submitCommand(Array("after=2".utf8))
            try await self.verify(["before=1", "after=2"], on: members, cluster)
            for id in members where id != 4 {
                try await eventually("node \(id) closed its connection to the removed node \(old)") {
                    recorders[id]!.disconnectedAddresses.contains(cluster.address(old))
                        && !grpc[id]!.connectedAddresses.contains(cluster.address(old))
                }
            }
            await cluster.stopAll()
        }
    }
}
