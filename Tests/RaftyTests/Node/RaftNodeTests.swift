import Logging
import MetricsTestKit
import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("RaftNode on an in-process network", .timeLimit(.minutes(1)))
struct RaftNodeTests {
    @Test("Subscribers see state and leader changes")
    func events() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            let events = cluster.node(1).events()
            let leader = try await cluster.leader()
            var sawLeader = false
            for await event in events {
                if case .leaderChanged(let id?, _) = event, id == leader {
                    sawLeader = true
                    break
                }
            }
            #expect(sawLeader)
        }
    }

    /// Starts three nodes that snapshot every 5 entries and keep 1 behind, cuts a follower off
    /// while the leader commits 20 commands, and reconnects it; returns the leader, the follower
    /// and the commands.
    static func leaveFollowerBehindCompactedLog(
        _ cluster: TestCluster, transport: (any RaftTransport)? = nil
    ) async throws -> (leader: NodeID, follower: NodeID, commands: [String]) {
        for id in UInt64(1)...3 {
            try cluster.start(
                id,
                configure: { configuration in
                    configuration.snapshotThreshold = 5
                    configuration.trailingLogs = 1
                },
                wrapTransport: { transport ?? $0 })
        }
        let leader = try await cluster.leader()
        let follower = leader % 3 + 1
        cluster.setIsolated(follower, true)
        var commands: [String] = []
        for i in 0..<20 {
            _ = try await cluster.node(leader).submitCommand(Array("s\(i)=\(i)".utf8))
            commands.append("s\(i)=\(i)")
        }
        cluster.setIsolated(follower, false)
        return (leader, follower, commands)
    }

    /// Before the fix the leader started the transfer again after every election timeout (7
    /// transfers here) and compacted past it, so the follower restored the state twice.
    @Test("A snapshot transfer slower than the election timeout is sent once and installed once: the leader keeps the log after it")
    func slowSnapshotTransfer() async throws {
        let cluster = TestCluster(size: 3)
        let transport = SlowSnapshotTransport(cluster.inProcessNetwork, delay: .milliseconds(600))
        try await cluster.run {
            var (leader, follower, expected) = try await Self.leaveFollowerBehindCompactedLog(cluster, transport: transport)
            try await eventually("a snapshot transfer to the follower started") { transport.transfers(to: cluster.address(follower)) == 1 }
            // The leader takes four more snapshots while the transfer is on its way.
            for i in 20..<40 {
                _ = try await cluster.node(leader).submitCommand(Array("s\(i)=\(i)".utf8))
                expected.append("s\(i)=\(i)")
            }
            try await eventually("the follower caught up") { cluster.stateMachine(follower).appliedCommands == expected }
            #expect(transport.transfers(to: cluster.address(follower)) == 1)
            #expect(cluster.stateMachine(follower).restoreCount == 1)
        }
    }

    @Test("fetchLeader asks the peers and returns as soon as one knows the leader")
    func fetchLeader() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let found = await cluster.node(follower).fetchLeader()
            #expect(found?.id == leader)
            #expect(found?.address == cluster.address(leader))
        }
    }

    @Test("With minimumClusterSize 3 a lone node never campaigns")
    func loneNodeWaits() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            try cluster.start(1)
            #expect(await cluster.node(1).fetchLeader(timeout: .milliseconds(100)) == nil)
            try await Task.sleep(for: .milliseconds(300))  // 30 ticks: three election timeouts
            #expect(cluster.node(1).status.state == .follower)
            #expect(cluster.node(1).status.term == 0)
            await expectError(.noLeader) { _ = try await cluster.node(1).submitCommand([1], timeout: .seconds(1)) }
        }
    }

    @Test("A single-server cluster leads at once and serves writes")
    func singleServer() async throws {
        let cluster = TestCluster(size: 1)
        try await cluster.run {
            try cluster.start(1) { $0.minimumClusterSize = 1 }
            _ = try await cluster.leader()
            _ = try await cluster.node(1).submitCommand(Array("x=1".utf8))
            #expect(try await cluster.node(1).read(Array("x".utf8)) == Array("1".utf8))
        }
    }

    @Test("persistDataOnDisk = false works and leaves no files")
    func inMemory() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) { $0.persistDataOnDisk = false } }
            let leader = try await cluster.leader()
            _ = try await cluster.node(leader).submitCommand(Array("m=1".utf8))
            for id in cluster.ids { await cluster.stop(id) }
            // Before the cluster's shutdown removes its directory.
            for id in cluster.ids { #expect(access(cluster.configuration(id).dataDirectory!, F_OK) != 0) }
            #expect(access(cluster.directory, F_OK) == 0)
        }
    }

    @Test("Out-of-range configuration values are rejected, naming the field")
    func invalidConfiguration() throws {
        for (field, change) in [
            ("timeMultiplier", { (c: inout RaftNode.Configuration) in c.timeMultiplier = 11 }),
            ("minimumClusterSize", { (c: inout RaftNode.Configuration) in c.minimumClusterSize = 0 }),
            ("maxAppendEntries", { (c: inout RaftNode.Configuration) in c.maxAppendEntries = 0 }),
            ("peers", { (c: inout RaftNode.Configuration) in c.peers = ["10.0.0.1:99999"] }),
            ("address", { (c: inout RaftNode.Configuration) in c.address = ":1" }),
        ] {
            var configuration = RaftNode.Configuration(id: 1)
            change(&configuration)
            #expect {
                _ = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: InProcessNetwork())
            } throws: { error in
                let error = error as? RaftError
                return error?.code == .invalidConfiguration && error?.message.contains(field) == true
            }
        }
    }

    func expectError(_ code: RaftError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)")
        } catch let error as RaftError {
            #expect(error.code == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("RaftNode metrics and lifecycle", .timeLimit(.minutes(1)))
struct RaftNodeServiceTests {
    @Test("A node reports term, commit and applied index, proposals and fsync latency")
    func metrics() async throws {
        let metrics = TestMetrics()
        let cluster = TestCluster(size: 1)
        try await cluster.run {
            try cluster.start(1) { configuration in
                configuration.minimumClusterSize = 1
                configuration.metricsFactory = metrics
            }
            _ = try await cluster.leader()
            for i in 0..<3 { _ = try await cluster.node(1).submitCommand(Array("m\(i)=\(i)".utf8)) }
        }
        let dimensions = [("raft.node_id", "1")]
        #expect(try metrics.expectCounter("raft.proposals", dimensions).totalValue == 3)
        #expect(try metrics.expectGauge("raft.term", dimensions).lastValue == 1)
        #expect(try metrics.expectGauge("raft.applied_index", dimensions).lastValue! >= 4)
        #expect(try metrics.expectTimer("raft.storage.fsync.duration", dimensions).values.count >= 3)
        #expect(try metrics.expectTimer("raft.proposal.duration", dimensions).values.count == 3)
    }

    @Test("A ServiceGroup's graceful shutdown stops the node")
    func serviceLifecycle() async throws {
        let cluster = TestCluster(size: 1)
        var configuration = cluster.configuration(1)
        configuration.minimumClusterSize = 1
        let node = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: cluster.inProcessNetwork)
        let group = ServiceGroup(services: [node], logger: Logger(label: "test"))
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            try await eventually("the node leads") { node.status.state == .leader }
            _ = try await node.submitCommand(Array("x=1".utf8))
            await group.triggerGracefulShutdown()
        }
        #expect(node.status.state == .down)
    }
}

/// A transport whose snapshot transfers take `delay` longer (a slow link), counted by destination.
final class SlowSnapshotTransport: WrappingTransport {
    let inner: any RaftTransport
    let delay: Duration
    private let counts = Mutex<[String: Int]>([:])

    init(_ inner: any RaftTransport, delay: Duration) {
        self.inner = inner
        self.delay = delay
    }

    /// How many snapshot transfers to `address` started.
    func transfers(to address: String) -> Int { self.counts.withLock { $0[address, default: 0] } }

    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        await self.inner.send(message, snapshot: snapshot, to: address)
    }

    func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        self.counts.withLock { $0[address, default: 0] += 1 }
        try? await Task.sleep(for: self.delay)
        return await self.inner.sendSnapshot(message, from: source, to: address)
    }

    func disconnect(from address: String) { self.inner.disconnect(from: address) }
}
