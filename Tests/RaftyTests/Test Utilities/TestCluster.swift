import RaftCore
import Rafty
import RaftyTestSupport
import Synchronization

/// Nodes on an in-process network, each with its own data directory; runs them in a task group.
final class TestCluster: Sendable {
    let network = InProcessNetwork()
    let directory = TemporaryDirectory("rafty-cluster")
    let size: Int
    private let nodes = Mutex<[NodeID: (node: RaftNode, machine: RecordingStateMachine)]>([:])

    init(size: Int) { self.size = size }

    func address(_ id: NodeID) -> String { "10.0.0.\(id):50051" }

    func configuration(_ id: NodeID) -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = (1...UInt64(self.size)).filter { $0 != id }.map { self.address($0) }
        configuration.dataDirectory = "\(self.directory.path)/node-\(id)"
        configuration.tickInterval = .milliseconds(10)
        configuration.minimumClusterSize = min(3, self.size)
        return configuration
    }

    func node(_ id: NodeID) -> RaftNode { self.nodes.withLock { $0[id]!.node } }
    func machine(_ id: NodeID) -> RecordingStateMachine { self.nodes.withLock { $0[id]!.machine } }
    var ids: [NodeID] { self.nodes.withLock { $0.keys.sorted() } }

    /// Starts node `id` (again) in `group`, with a fresh state machine.
    func start(
        _ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>, transport: (any RaftTransport)? = nil,
        configure: (inout RaftNode.Configuration) -> Void = { _ in }
    ) throws {
        var configuration = self.configuration(id)
        configure(&configuration)
        let machine = RecordingStateMachine()
        let node = try RaftNode(configuration: configuration, stateMachine: machine, transport: transport ?? self.network)
        self.nodes.withLock { $0[id] = (node, machine) }
        group.addTask { try await node.run() }
    }

    /// The node that leads, once exactly one running node does.
    func leader(excluding excluded: Set<NodeID> = []) async throws -> NodeID {
        var leader: NodeID?
        try await eventually("one leader") {
            let leaders = self.ids.filter { !excluded.contains($0) && self.node($0).status.state == .leader }
            leader = leaders.count == 1 ? leaders[0] : nil
            return leader != nil
        }
        return leader!
    }

    func stopAll() async {
        for id in self.ids { await self.node(id).stop() }
    }

    deinit { self.directory.remove() }
}
