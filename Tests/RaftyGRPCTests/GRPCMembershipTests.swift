import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

/// What membership changes do to gRPC connections; the membership scenarios every transport runs
/// are in `RaftyTestingTests.ClusterScenarioTests`.
@Suite("Membership changes over loopback gRPC", .serialized, .timeLimit(.minutes(3)))
struct GRPCMembershipTests {
    @Test("Replace a node: add a new one, remove the old one; the cluster keeps committing and closes its connections to the old one")
    func replaceNode() async throws {
        let links = Mutex<[NodeID: (recorder: RecordingTransport, grpc: GRPCTransport)]>([:])
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine() }
        try await LocalCluster.with(size: 3, transport: .grpc, extraNodes: 1, stateMachine: machines) { cluster in
            for id in UInt64(1)...3 {
                try cluster.start(
                    id,
                    wrapTransport: { inner in
                        let recorder = RecordingTransport(inner)
                        links.withLock { $0[id] = (recorder, inner as! GRPCTransport) }
                        return recorder
                    })
            }
            try cluster.start(4) { configuration in
                configuration.startMode = .join
                configuration.peers = [cluster.address(1)]
            }
            let leader = try await cluster.leader()
            let old = leader % 3 + 1
            _ = try await cluster.node(leader).submitCommand(Array("before=1".utf8))
            try await cluster.node(old).addMember(id: 4, address: cluster.address(4))
            try await cluster.node(leader).removeMember(id: old)
            await cluster.stop(old)
            let members = (UInt64(1)...4).filter { $0 != old }
            #expect(Set(cluster.node(leader).status.roles.keys) == Set(members))
            _ = try await cluster.node(4).submitCommand(Array("after=2".utf8))
            for node in members {
                for (key, value) in [("before", "1"), ("after", "2")] {
                    let read = try await cluster.node(node).read(Array(key.utf8))
                    #expect(String(decoding: read, as: UTF8.self) == value, "node \(node), \(key)")
                }
            }
            for id in members where id != 4 {
                let link = links.withLock { $0[id]! }
                try await cluster.waitUntil("node \(id) closed its connection to the removed node \(old)") {
                    link.recorder.disconnectedAddresses.contains(cluster.address(old)) && !link.grpc.connectedAddresses.contains(cluster.address(old))
                }
            }
        }
    }
}
