import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import Testing

@Suite("Rafty clusters over loopback gRPC", .serialized, .timeLimit(.minutes(3)))
struct GRPCClusterTests {
    /// Submits commands on the leader and on followers and checks every node applied them in one order.
    func replicate(size: Int) async throws {
        let cluster = GRPCTestCluster(size: size)
        try await withThrowingDiscardingTaskGroup { group in
            for id in 1...UInt64(size) { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            var expected: [String] = []
            let submitters = [leader] + cluster.ids.filter { $0 != leader }
            for (i, id) in (submitters + submitters).enumerated() {
                let command = "k\(i)=v\(i)"
                let result = try await cluster.node(id).submitCommand(Array(command.utf8))
                #expect(String(decoding: result, as: UTF8.self) == "ok \(i + 1)")
                expected.append(command)
            }
            try await eventually("every node applied the commands") {
                cluster.ids.allSatisfy { cluster.machine($0).appliedCommands == expected }
            }
            let follower = submitters[1]
            // GetLeader and Health, asked over gRPC.
            let probe = GRPCTransport()
            try await eventually("the follower reports the leader") {
                (try? await probe.leader(at: cluster.address(follower)))?.id == leader
            }
            #expect(try await probe.health(at: cluster.address(leader)).state == "leader")
            probe.close()
            // A linearizable read on a follower is forwarded to the leader.
            #expect(try await cluster.node(follower).read(Array("k1".utf8)) == Array("v1".utf8))
            await cluster.stopAll()
        }
    }

    @Test("Three nodes: a leader is elected; commands from any node apply everywhere in one order")
    func threeNodes() async throws { try await self.replicate(size: 3) }

    @Test("Five nodes: a leader is elected; commands from any node apply everywhere in one order")
    func fiveNodes() async throws { try await self.replicate(size: 5) }

    @Test("A stopped leader is replaced and every acknowledged command survives")
    func leaderStops() async throws {
        let cluster = GRPCTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            var acknowledged: [String] = []
            for i in 0..<5 {
                _ = try await cluster.node(leader).submitCommand(Array("a\(i)=\(i)".utf8))
                acknowledged.append("a\(i)=\(i)")
            }
            await cluster.node(leader).stop()
            let next = try await cluster.leader(excluding: [leader])
            #expect(next != leader)
            let follower = cluster.ids.first { $0 != leader && $0 != next }!
            try await eventually("the follower knows the new leader") { cluster.node(follower).status.leaderID == next }
            _ = try await cluster.node(follower).submitCommand(Array("after=1".utf8))
            acknowledged.append("after=1")
            try await eventually("the remaining nodes applied everything") {
                cluster.ids.filter { $0 != leader }.allSatisfy { cluster.machine($0).appliedCommands == acknowledged }
            }
            await cluster.stopAll()
        }
    }

    @Test("Leadership moves to each node in turn, asked of a follower (forwarded over gRPC)")
    func transferLeadership() async throws {
        let cluster = GRPCTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            var leader = try await cluster.leader()
            for round in 0..<3 {
                let target = leader % 3 + 1
                let asked = cluster.ids.first { $0 != leader && $0 != target }!
                try await eventually("node \(asked) knows the leader") { cluster.node(asked).status.leaderID == leader }
                #expect(try await cluster.node(asked).transferLeadership(to: target) == target)
                leader = try await cluster.leader()
                #expect(leader == target)
                _ = try await cluster.node(asked).submitCommand(Array("t\(round)=\(round)".utf8))
            }
            try await eventually("every node applied the commands") {
                cluster.ids.allSatisfy { cluster.machine($0).appliedCommands.count == 3 }
            }
            await cluster.stopAll()
        }
    }

    @Test("A follower that was down restarts from its data directory and catches up")
    func followerRestarts() async throws {
        let cluster = GRPCTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            _ = try await cluster.node(leader).submitCommand(Array("before=1".utf8))
            try await eventually("the follower applied the first command") {
                cluster.machine(follower).appliedCommands == ["before=1"]
            }
            await cluster.node(follower).stop()
            try await eventually("the follower stopped") { cluster.node(follower).status.state == .down }
            for i in 0..<3 { _ = try await cluster.node(leader).submitCommand(Array("missed\(i)=\(i)".utf8)) }
            try cluster.start(follower, in: &group)
            let expected = ["before=1", "missed0=0", "missed1=1", "missed2=2"]
            try await eventually("the restarted follower caught up") {
                cluster.machine(follower).appliedCommands == expected
            }
            await cluster.stopAll()
        }
    }

    @Test("A follower behind a compacted log receives a snapshot of more than 16 MiB over gRPC")
    func largeSnapshot() async throws {
        let cluster = GRPCTestCluster(size: 3)
        let padding = 17 << 20
        let configure: (inout RaftNode.Configuration) -> Void = { configuration in
            configuration.snapshotThreshold = 5
            configuration.trailingLogs = 1
            // In-memory stores drop a compacted prefix at once (the file log keeps whole segments),
            // so the cut-off follower can only catch up from a snapshot.
            configuration.persistDataOnDisk = false
            configuration.tickInterval = .milliseconds(50)
        }
        // The follower is cut off rather than restarted: an in-memory node that restarts has lost
        // its data, and its peers refuse it (NodeIdentity).
        let links = Dictionary(uniqueKeysWithValues: (UInt64(1)...3).map { ($0, MutableTransport(GRPCTransport())) })
        let recorders = Dictionary(uniqueKeysWithValues: (UInt64(1)...3).map { ($0, RecordingTransport(links[$0]!)) })
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 {
                try cluster.start(id, in: &group, padding: padding, transport: recorders[id], configure: configure)
            }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            links[follower]!.muted = true
            var expected: [String] = []
            for i in 0..<12 {
                _ = try await cluster.node(leader).submitCommand(Array("s\(i)=\(i)".utf8), timeout: .seconds(30))
                expected.append("s\(i)=\(i)")
            }
            let behind = cluster.machine(follower).appliedCommands.count
            #expect(behind < expected.count)
            links[follower]!.muted = false
            try await eventually("the cut-off follower caught up from a snapshot", timeout: .seconds(90)) {
                cluster.machine(follower).appliedCommands == expected
            }
            let sent = recorders[leader]!.sentSnapshotSizes
            let restored = cluster.machine(follower).restoredSizes
            #expect(sent.contains { $0 >= 16 << 20 }, "leader sent snapshots of \(sent) bytes")
            #expect(restored.contains { $0 >= 16 << 20 }, "follower restored snapshots of \(restored) bytes")
            await cluster.stopAll()
        }
    }

    @Test("A read-only node replicates but never votes or campaigns")
    func readOnlyNode() async throws {
        let cluster = GRPCTestCluster(size: 4)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let recorder = RecordingTransport(GRPCTransport())
            let readOnly = try cluster.start(4, in: &group, transport: recorder) { $0.isVoter = false }
            let events = readOnly.events()
            let leader = try await cluster.leader()
            #expect(leader != 4)
            try await eventually("the read-only node knows the leader") { readOnly.status.leaderID == leader }
            var expected: [String] = []
            for i in 0..<3 {
                _ = try await cluster.node(4).submitCommand(Array("r\(i)=\(i)".utf8))
                expected.append("r\(i)=\(i)")
            }
            try await eventually("the read-only node applied the commands") {
                cluster.machine(4).appliedCommands == expected
            }
            #expect(readOnly.status.state == .readOnly)
            #expect(cluster.node(leader).status.roles[4] == false)
            // Without the leader, the two other voters elect a new one; the read-only node stays out.
            await cluster.node(leader).stop()
            let next = try await cluster.leader(excluding: [leader])
            #expect(next != 4)
            _ = try await cluster.node(next).submitCommand(Array("after=1".utf8))
            expected.append("after=1")
            try await eventually("the read-only node applied the new leader's command") {
                cluster.machine(4).appliedCommands == expected
            }
            await cluster.stopAll()
            var states: [RaftNode.Status.State] = []
            for await event in events {
                if case .stateChanged(let state, _) = event { states.append(state) }
            }
            #expect(!states.contains(.candidate) && !states.contains(.leader), "\(states)")
            let votes = recorder.sentMessages.filter { message in
                switch message.body {
                case .vote, .preVote, .voteResponse(granted: true), .preVoteResponse(granted: true): return true
                default: return false
                }
            }
            #expect(votes.isEmpty, "the read-only node sent \(votes)")
            #expect(recorder.sentMessages.contains { if case .appendResponse = $0.body { true } else { false } })
        }
    }
}
