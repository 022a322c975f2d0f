import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

/// What only the gRPC transport does; the scenarios every transport runs are in
/// `RaftyTestingTests.ClusterScenarioTests`.
@Suite("Rafty clusters over loopback gRPC", .serialized, .timeLimit(.minutes(3)))
struct GRPCClusterTests {
    @Test("GetLeader and Health answer over gRPC")
    func leaderAndHealth() async throws {
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine() }
        try await LocalCluster.with(size: 3, transport: .grpc, stateMachine: machines) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let probe = GRPCTransport()
            defer { probe.close() }
            try await cluster.waitUntil("the follower reports the leader") {
                (try? await probe.leader(at: cluster.address(follower)))?.id == leader
            }
            #expect(try await probe.health(at: cluster.address(leader)).state == "leader")
        }
    }

    @Test("A follower behind a compacted log receives a snapshot of more than 16 MiB over gRPC")
    func largeSnapshot() async throws {
        let configure: @Sendable (inout RaftNode.Configuration) -> Void = { configuration in
            configuration.snapshotThreshold = 5
            configuration.trailingLogs = 1
            // In-memory stores drop a compacted prefix at once (the file log keeps whole segments),
            // so the cut-off follower can only catch up from a snapshot.
            configuration.persistDataOnDisk = false
        }
        let recorders = Mutex<[NodeID: RecordingTransport]>([:])
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine(padding: 17 << 20) }
        try await LocalCluster.with(size: 3, transport: .grpc, configure: configure, stateMachine: machines) { cluster in
            for id in UInt64(1)...3 {
                // The follower is cut off rather than restarted: an in-memory node that restarts
                // has lost its data, and its peers refuse it (NodeIdentity).
                try cluster.start(
                    id,
                    wrapTransport: { inner in
                        let recorder = RecordingTransport(inner)
                        recorders.withLock { $0[id] = recorder }
                        return recorder
                    })
            }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            cluster.setIsolated(follower, true)
            var expected: [String] = []
            for i in 0..<12 {
                _ = try await cluster.node(leader).submitCommand(Array("s\(i)=\(i)".utf8), timeout: .seconds(30))
                expected.append("s\(i)=\(i)")
            }
            #expect(cluster.stateMachine(follower).appliedCommands.count < expected.count)
            cluster.setIsolated(follower, false)
            try await cluster.waitUntil("the cut-off follower caught up from a snapshot", timeout: .seconds(90)) {
                cluster.stateMachine(follower).appliedCommands == expected
            }
            let sent = recorders.withLock { $0[leader]! }.sentSnapshotSizes
            let restored = cluster.stateMachine(follower).restoredSizes
            #expect(sent.contains { $0 >= 16 << 20 }, "leader sent snapshots of \(sent) bytes")
            #expect(restored.contains { $0 >= 16 << 20 }, "follower restored snapshots of \(restored) bytes")
        }
    }
}
