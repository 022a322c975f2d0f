import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

typealias Cluster = LocalCluster<RecordingStateMachine>

/// Runs `body` on a cluster of `size` nodes over `transport`, with recording state machines.
func withCluster(
    _ size: Int, _ transport: Cluster.Transport, extraNodes: Int = 0, padding: Int = 0,
    configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void = { _ in }, _ body: (Cluster) async throws -> Void
) async throws {
    try await Cluster.with(
        size: size, transport: transport, extraNodes: extraNodes, configure: configure, stateMachine: { _ in RecordingStateMachine(padding: padding) }, body)
}

/// The runtime scenarios, once per transport from the same code: what differs between an
/// in-memory network and loopback gRPC (forwarding, snapshot streaming, connection handling) is
/// exercised by the same expectations.
@Suite("Cluster scenarios on every transport", .timeLimit(.minutes(3)))
struct ClusterScenarioTests {
    @Test(
        "A cluster elects a leader; commands from any node apply everywhere in one order; reads are forwarded", arguments: Cluster.Transport.allCases, [3, 5])
    func replicate(transport: Cluster.Transport, size: Int) async throws {
        try await withCluster(size, transport) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            var expected: [String] = []
            let submitters = [leader] + cluster.ids.filter { $0 != leader }
            for (i, id) in (submitters + submitters).enumerated() {
                let command = "k\(i)=v\(i)"
                let result = try await cluster.node(id).submitCommand(Array(command.utf8))
                #expect(String(decoding: result, as: UTF8.self) == "ok \(i + 1)")
                expected.append(command)
            }
            try await cluster.waitUntil("every node applied the commands; \(cluster.describe())") {
                cluster.ids.allSatisfy { cluster.stateMachine($0).appliedCommands == expected }
            }
            let follower = submitters[1]
            try await cluster.waitUntil("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }
            #expect(await cluster.node(follower).fetchLeader()?.id == leader)
            // A linearizable read on a follower is forwarded to the leader.
            #expect(try await cluster.node(follower).read(Array("k1".utf8)) == Array("v1".utf8))
            #expect(try await cluster.node(leader).read(Array("k2".utf8), consistency: .lease) == Array("v2".utf8))
        }
    }

    @Test("A stopped leader is replaced and every acknowledged command survives", arguments: Cluster.Transport.allCases)
    func leaderStops(transport: Cluster.Transport) async throws {
        try await withCluster(3, transport) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            var acknowledged: [String] = []
            for i in 0..<5 {
                _ = try await cluster.node(leader).submitCommand(Array("a\(i)=\(i)".utf8))
                acknowledged.append("a\(i)=\(i)")
            }
            await cluster.stop(leader)
            let next = try await cluster.leader(excluding: [leader])
            #expect(next != leader)
            let follower = cluster.ids.first { $0 != leader && $0 != next }!
            try await cluster.waitUntil("the follower knows the new leader") { cluster.node(follower).status.leaderID == next }
            _ = try await cluster.node(follower).submitCommand(Array("after=1".utf8))
            acknowledged.append("after=1")
            try await cluster.waitUntil("the remaining nodes applied everything") {
                cluster.ids.filter { $0 != leader }.allSatisfy { cluster.stateMachine($0).appliedCommands == acknowledged }
            }
        }
    }

    @Test("Leadership moves to each node in turn, asked of a follower (forwarded)", arguments: Cluster.Transport.allCases)
    func transferLeadership(transport: Cluster.Transport) async throws {
        try await withCluster(3, transport) { cluster in
            try cluster.startAll()
            var leader = try await cluster.leader()
            for round in 0..<3 {
                let target = leader % 3 + 1
                let asked = cluster.ids.first { $0 != leader && $0 != target }!
                try await cluster.waitUntil("node \(asked) knows the leader") { cluster.node(asked).status.leaderID == leader }
                #expect(try await cluster.node(asked).transferLeadership(to: target) == target)
                leader = try await cluster.leader()
                #expect(leader == target)
                // A node that knows no leader refuses at once (noLeader): wait until it heard from the new one.
                try await cluster.waitUntil("node \(asked) knows the new leader") { cluster.node(asked).status.leaderID == target }
                _ = try await cluster.node(asked).submitCommand(Array("t\(round)=\(round)".utf8))
            }
            try await cluster.waitUntil("every node applied the commands") {
                cluster.ids.allSatisfy { cluster.stateMachine($0).appliedCommands.count == 3 }
            }
        }
    }

    /// With `inMemoryLogBytes` 0 the leader keeps no applied command in memory: the follower's
    /// catch-up is read back from the leader's log store (the test fails if it is not).
    @Test(
        "A follower that was down restarts from its data directory and catches up (also from commands read back from the leader's log store)",
        arguments: Cluster.Transport.allCases, [64 << 20, 0])
    func followerRestarts(transport: Cluster.Transport, inMemoryLogBytes: Int) async throws {
        let configure: @Sendable (inout RaftNode.Configuration) -> Void = { $0.inMemoryLogBytes = inMemoryLogBytes }
        try await withCluster(3, transport, configure: configure) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            _ = try await cluster.node(leader).submitCommand(Array("before=1".utf8))
            try await cluster.waitUntil("the follower applied the first command") {
                cluster.stateMachine(follower).appliedCommands == ["before=1"]
            }
            await cluster.stop(follower)
            var expected = ["before=1"]
            for i in 0..<20 {
                let command = "missed\(i)=" + String(repeating: "v", count: 1_000 + i)
                _ = try await cluster.node(leader).submitCommand(Array(command.utf8))
                expected.append(command)
            }
            try cluster.start(follower)
            try await cluster.waitUntil("the restarted follower caught up") {
                cluster.stateMachine(follower).appliedCommands == expected
            }
        }
    }

    @Test("A follower cut off behind a compacted log catches up from a snapshot", arguments: Cluster.Transport.allCases)
    func snapshotCatchUp(transport: Cluster.Transport) async throws {
        let configure: @Sendable (inout RaftNode.Configuration) -> Void = { configuration in
            configuration.snapshotThreshold = 5
            configuration.trailingLogs = 1
        }
        try await withCluster(3, transport, configure: configure) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            cluster.setIsolated(follower, true)
            var expected: [String] = []
            for i in 0..<20 {
                _ = try await cluster.node(leader).submitCommand(Array("s\(i)=\(i)".utf8))
                expected.append("s\(i)=\(i)")
            }
            #expect(cluster.stateMachine(follower).appliedCommands.count < expected.count)
            cluster.setIsolated(follower, false)
            try await cluster.waitUntil("the cut-off follower caught up") {
                cluster.stateMachine(follower).appliedCommands == expected
            }
            #expect(cluster.stateMachine(follower).restoreCount >= 1, "the follower caught up from a snapshot")
        }
    }

    @Test("A read-only node replicates but never votes or campaigns, and counts in no quorum", arguments: Cluster.Transport.allCases)
    func readOnlyNode(transport: Cluster.Transport) async throws {
        try await withCluster(4, transport) { cluster in
            for id in UInt64(1)...3 { try cluster.start(id) }
            let recorder = Mutex<RecordingTransport?>(nil)
            let readOnly = try cluster.start(
                4, configure: { $0.isVoter = false },
                wrapTransport: { inner in
                    let wrapped = RecordingTransport(inner)
                    recorder.withLock { $0 = wrapped }
                    return wrapped
                })
            let events = readOnly.events()
            let leader = try await cluster.leader()
            #expect(leader != 4)
            try await cluster.waitUntil("the read-only node knows the leader") { readOnly.status.leaderID == leader }
            var expected: [String] = []
            for i in 0..<3 {
                _ = try await readOnly.submitCommand(Array("r\(i)=\(i)".utf8))
                expected.append("r\(i)=\(i)")
            }
            try await cluster.waitUntil("the read-only node applied the commands") {
                cluster.stateMachine(4).appliedCommands == expected && readOnly.status.state == .readOnly
            }
            #expect(cluster.node(leader).status.roles == [1: true, 2: true, 3: true, 4: false])
            // With the two other voters cut off, leader and read-only node are no quorum.
            for id in UInt64(1)...3 where id != leader { cluster.setIsolated(id, true) }
            await #expect(throws: RaftError.self) {
                _ = try await cluster.node(leader).submitCommand(Array("lost=1".utf8), timeout: .milliseconds(500))
            }
            #expect(cluster.stateMachine(4).appliedCommands == expected)
            for id in UInt64(1)...3 where id != leader { cluster.setIsolated(id, false) }
            // Without the leader, the two other voters elect a new one; the read-only node stays out.
            await cluster.stop(leader)
            let next = try await cluster.leader(excluding: [leader])
            #expect(next != 4)
            _ = try await cluster.node(next).submitCommand(Array("after=1".utf8))
            try await cluster.waitUntil("the read-only node applied the new leader's command") {
                cluster.stateMachine(4).appliedCommands.last == "after=1"
            }
            await cluster.stop(4)
            var states: [RaftNode.Status.State] = []
            for await event in events {
                if case .stateChanged(let state, _) = event { states.append(state) }
            }
            #expect(!states.contains(.candidate) && !states.contains(.leader), "\(states)")
            let sent = recorder.withLock { $0 }?.sentMessages ?? []
            let votes = sent.filter { message in
                switch message.body {
                case .vote, .preVote, .voteResponse(granted: true), .preVoteResponse(granted: true): return true
                default: return false
                }
            }
            #expect(votes.isEmpty, "the read-only node sent \(votes)")
            #expect(sent.contains { if case .appendResponse = $0.body { true } else { false } })
        }
    }

    @Test(
        "Grow 3 → 5 and shrink 5 → 3 under write load, changes asked of followers (the leader's own removal is redirected); no acknowledged write lost",
        arguments: Cluster.Transport.allCases)
    func growAndShrink(transport: Cluster.Transport) async throws {
        try await withCluster(3, transport, extraNodes: 2) { cluster in
            try cluster.startAll()
            for id in UInt64(4)...5 {
                try cluster.start(id) { configuration in
                    configuration.startMode = .join
                    configuration.peers = [cluster.address(1)]
                }
            }
            var leader = try await cluster.leader()
            let writer = BackgroundWriter(cluster, targets: [1, 2, 3])
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await writer.run() }
                try await writer.progress()
                let follower = leader % 3 + 1
                #expect(try await cluster.node(follower).addMember(id: 4, address: cluster.address(4)) > 0)
                try await writer.progress()
                try await cluster.node(leader).addMember(id: 5, address: cluster.address(5))
                try await writer.progress()
                #expect(cluster.node(leader).status.roles == [1: true, 2: true, 3: true, 4: true, 5: true])
                writer.retarget([1, 2, 3, 4, 5])

                // Remove the leader, asked of a follower: the leader hands over first and the
                // follower's forwarded change is redirected to the new leader.
                let first = leader
                let asked = (UInt64(1)...5).first { $0 != first }!
                try await cluster.waitUntil("node \(asked) knows the leader") { cluster.node(asked).status.leaderID == first }
                try await cluster.node(asked).removeMember(id: first)
                try await writer.progress()
                leader = try await cluster.leader(excluding: [first])
                let second = (UInt64(1)...5).first { $0 != first && $0 != leader }!
                let remaining = (UInt64(1)...5).filter { $0 != first && $0 != second }
                writer.retarget(remaining)
                try await cluster.node(remaining[0]).removeMember(id: second)
                try await writer.progress()
                leader = try await cluster.leader(excluding: [first, second])
                #expect(Set(cluster.node(leader).status.roles.keys) == Set(remaining))
                try await cluster.waitUntil("the removed nodes ask the leader, learn it and stop themselves") {
                    cluster.node(first).status.state == .down && cluster.node(second).status.state == .down
                }
                writer.stop()
                for node in remaining {
                    for write in writer.acknowledged {
                        let parts = write.split(separator: "=").map(String.init)
                        let value = try await cluster.node(node).read(Array(parts[0].utf8))
                        #expect(String(decoding: value, as: UTF8.self) == parts[1], "node \(node), \(write)")
                    }
                }
            }
        }
    }
}

/// Writes `w<i>=<i>` through the given nodes until stopped; remembers what was acknowledged.
final class BackgroundWriter: Sendable {
    private struct State {
        var targets: [NodeID]
        var acknowledged: [String] = []
        var stopped = false
        var next = 0
    }
    private let state: Mutex<State>
    private let cluster: Cluster

    init(_ cluster: Cluster, targets: [NodeID]) {
        self.cluster = cluster
        self.state = Mutex(State(targets: targets))
    }

    var acknowledged: [String] { self.state.withLock { $0.acknowledged } }
    func retarget(_ targets: [NodeID]) { self.state.withLock { $0.targets = targets } }
    func stop() { self.state.withLock { $0.stopped = true } }

    func run() async {
        while true {
            let next = self.state.withLock { state -> (Int, NodeID)? in
                guard !state.stopped else { return nil }
                defer { state.next += 1 }
                return (state.next, state.targets[state.next % state.targets.count])
            }
            guard let (i, target) = next, !Task.isCancelled else { return }
            // Errors (no leader during a change, unknown outcomes) are expected; only acks count.
            if (try? await self.cluster.node(target).submitCommand(Array("w\(i)=\(i)".utf8), timeout: .seconds(2))) != nil {
                self.state.withLock { $0.acknowledged.append("w\(i)=\(i)") }
            }
        }
    }

    /// Waits until another write was acknowledged, so that every phase runs under load.
    func progress() async throws {
        let before = self.acknowledged.count
        try await self.cluster.waitUntil("writes are acknowledged again; \(self.cluster.describe())") { self.acknowledged.count > before }
    }
}
