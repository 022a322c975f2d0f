import RaftCore
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

@testable import Rafty

/// The in-process network, except that the node at one address answers membership questions as
/// a leader that does not list the asking node, presenting `clusterID`.
final class ForeignLeaderTransport: WrappingTransport {
    let inner: any RaftTransport
    let address: String
    private let state = Mutex((clusterID: UInt64(0), asked: 0))

    init(_ inner: InProcessNetwork, answeringAt address: String, clusterID: UInt64) {
        self.inner = inner
        self.address = address
        self.state.withLock { $0.clusterID = clusterID }
    }

    /// How often the fake leader was asked.
    var asked: Int { self.state.withLock { $0.asked } }
    /// The cluster id the fake leader presents.
    var clusterID: UInt64 {
        get { self.state.withLock { $0.clusterID } }
        set { self.state.withLock { $0.clusterID = newValue } }
    }

    func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? {
        guard address == self.address else { return try await self.inner.committedMembership(at: address) }
        let clusterID = self.state.withLock { state in
            state.asked += 1
            return state.clusterID
        }
        return CommittedMembership(id: 9, isLeader: true, term: 1_000_000, members: [9], clusterID: clusterID)
    }

    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async { await self.inner.send(message, snapshot: snapshot, to: address) }
    func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        await self.inner.sendSnapshot(message, from: source, to: address)
    }
    func disconnect(from address: String) { self.inner.disconnect(from: address) }
}

@Suite("Removal watch (shutdownOnRemove)", .timeLimit(.minutes(1)))
struct RemovalWatchTests {
    @Test("A node cut off from its cluster ignores a leader of another cluster that does not list it, and stops when its own cluster's leader says so")
    func foreignLeaderIgnored() async throws {
        let cluster = TestCluster(size: 3)
        let transport = ForeignLeaderTransport(cluster.inProcessNetwork, answeringAt: cluster.address(2), clusterID: 0xF0F0_F0F0)
        try await cluster.run {
            try cluster.start(
                1, configure: { $0.shutdownOnRemove = true },
                wrapTransport: { _ in transport })
            try cluster.start(2)
            try cluster.start(3)
            _ = try await cluster.leader()
            try await eventually("node 1 is a committed member") { cluster.node(1).status.committedMembers.contains(1) }
            let ownCluster = cluster.node(1).peerCredentials.clusterID
            #expect(ownCluster != 0 && ownCluster != transport.clusterID)
            // Node 1 stops hearing from any leader of its own cluster and asks the members it knows.
            await cluster.node(2).stop()
            await cluster.node(3).stop()
            try await eventually("node 1 asked the other cluster's leader twice", timeout: .seconds(30)) { transport.asked >= 2 }
            #expect(cluster.node(1).status.state != .down, "a leader of another cluster has no say")
            // The same answer from a leader of its own cluster is heeded.
            transport.clusterID = ownCluster
            try await eventually("node 1 stops", timeout: .seconds(30)) { cluster.node(1).status.state == .down }
        }
    }
}
