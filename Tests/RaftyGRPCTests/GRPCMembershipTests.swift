import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import Synchronization
import Testing

/// Writes `w<i>=<i>` through the given nodes until stopped; remembers what was acknowledged.
final class BackgroundWriter: Sendable {
    private struct State {
        var targets: [NodeID]
        var acknowledged: [String] = []
        var stopped = false
        var next = 0
    }
    private let state: Mutex<State>

    init(targets: [NodeID]) { self.state = Mutex(State(targets: targets)) }

    var acknowledged: [String] { self.state.withLock { $0.acknowledged } }
    func retarget(_ targets: [NodeID]) { self.state.withLock { $0.targets = targets } }
    func stop() { self.state.withLock { $0.stopped = true } }

    func run(_ cluster: GRPCTestCluster) async {
        while true {
            let next = self.state.withLock { state -> (Int, NodeID)? in
                guard !state.stopped else { return nil }
                defer { state.next += 1 }
                return (state.next, state.targets[state.next % state.targets.count])
            }
            guard let (i, target) = next else { return }
            // Errors (no leader during a change, unknown outcomes) are expected; only acks count.
            if (try? await cluster.node(target).submitCommand(Array("w\(i)=\(i)".utf8), timeout: .seconds(2))) != nil {
                self.state.withLock { $0.acknowledged.append("w\(i)=\(i)") }
            }
        }
    }
}

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

    /// Every acknowledged write reads back linearizably through every node in `nodes`.
    /// Waits until the writer got another write acknowledged (so every phase runs under load).
    func progress(_ writer: BackgroundWriter) async throws {
        let before = writer.acknowledged.count
        try await eventually("writes are acknowledged again") { writer.acknowledged.count > before }
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

    @Test("Grow 3 → 5 and shrink 5 → 3 (the leader included) under write load; transfer to each node in turn; no acknowledged write lost")
    func growShrinkTransfer() async throws {
        let cluster = GRPCTestCluster(size: 5)
        try await withThrowingDiscardingTaskGroup { group in
            try self.startFounders(cluster, in: &group)
            try self.startJoiner(4, cluster, in: &group)
            try self.startJoiner(5, cluster, in: &group)
            var leader = try await cluster.leader()
            let writer = BackgroundWriter(targets: [1, 2, 3])
            group.addTask { await writer.run(cluster) }

            try await self.progress(writer)
            try await cluster.node(leader % 3 + 1).addMember(id: 4, address: cluster.address(4))
            try await self.progress(writer)
            try await cluster.node(leader).addMember(id: 5, address: cluster.address(5))
            try await self.progress(writer)
            #expect(cluster.node(leader).status.roles == [1: true, 2: true, 3: true, 4: true, 5: true])
            writer.retarget([1, 2, 3, 4, 5])

            for target in UInt64(1)...5 where target != leader {
                leader = try await cluster.leader()
                #expect(try await cluster.node(target).transferLeadership(to: target) == target)
                try await self.progress(writer)
            }
            leader = try await cluster.leader()

            // Shrink: remove the leader, then another node.
            let first = leader
            try await cluster.node(first).removeMember(id: first)
            try await self.progress(writer)
            leader = try await cluster.leader(excluding: [first])
            let second = (UInt64(1)...5).first { $0 != first && $0 != leader }!
            let remaining = (UInt64(1)...5).filter { $0 != first && $0 != second }
            writer.retarget(remaining)
            try await cluster.node(remaining[0]).removeMember(id: second)
            try await self.progress(writer)
            leader = try await cluster.leader(excluding: [first, second])
            #expect(Set(cluster.node(leader).status.roles.keys) == Set(remaining))
            try await eventually("the removed nodes ask the leader over gRPC, learn it and stop themselves") {
                cluster.node(first).status.state == .down && cluster.node(second).status.state == .down
            }

            writer.stop()
            let acknowledged = writer.acknowledged
            try await self.verify(acknowledged, on: remaining, cluster)
            await cluster.stopAll()
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
