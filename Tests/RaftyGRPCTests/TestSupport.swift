import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback TCP port that was free a moment ago (bind to port 0, read it, release it).
/// A loopback port no other test of this process got.
func freePort() -> Int { LoopbackPorts.next() }

/// Nodes on loopback gRPC, each with its own port, transport and data directory.
final class GRPCTestCluster: Sendable {
    let directory = TemporaryDirectory("rafty-grpc-cluster")
    let size: Int
    let ports: [NodeID: Int]
    private let nodes = Mutex<[NodeID: (node: RaftNode, machine: RecordingStateMachine)]>([:])

    init(size: Int) {
        self.size = size
        var ports: [NodeID: Int] = [:]
        var used: Set<Int> = []
        for id in 1...UInt64(size) {
            var port = freePort()
            while used.contains(port) { port = freePort() }
            used.insert(port)
            ports[id] = port
        }
        self.ports = ports
    }

    func address(_ id: NodeID) -> String { "127.0.0.1:\(self.ports[id]!)" }

    func configuration(_ id: NodeID) -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = (1...UInt64(self.size)).filter { $0 != id }.map { self.address($0) }
        configuration.dataDirectory = "\(self.directory.path)/node-\(id)"
        // 50 ms ticks (the default; elections in 0.5–1 s): suites run in parallel on 2 cores, and
        // 20 ms ticks let a starved event loop miss heartbeats long enough to churn leaders.
        configuration.tickInterval = .milliseconds(50)
        configuration.minimumClusterSize = min(3, self.size)
        return configuration
    }

    func node(_ id: NodeID) -> RaftNode { self.nodes.withLock { $0[id]!.node } }
    func machine(_ id: NodeID) -> RecordingStateMachine { self.nodes.withLock { $0[id]!.machine } }
    var ids: [NodeID] { self.nodes.withLock { $0.keys.sorted() } }

    /// Starts node `id` (again) in `group`, with a fresh state machine and a fresh transport.
    @discardableResult
    func start(
        _ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>, padding: Int = 0,
        transport: (any RaftTransport)? = nil, configure: (inout RaftNode.Configuration) -> Void = { _ in }
    ) throws -> RaftNode {
        var configuration = self.configuration(id)
        configure(&configuration)
        let machine = RecordingStateMachine(padding: padding)
        let node = try RaftNode(configuration: configuration, stateMachine: machine, transport: transport ?? GRPCTransport())
        self.nodes.withLock { $0[id] = (node, machine) }
        group.addTask { try await node.run() }
        return node
    }

    /// Every node's state, term, leader and membership, for failure messages.
    func describe() -> String {
        self.ids.map { id in
            let status = self.node(id).status
            return
                "\(id): \(status.state) term \(status.term) leader \(status.leaderID.map(String.init) ?? "-") commit \(status.commitIndex) members \(status.roles.keys.sorted())"
        }.joined(separator: "; ")
    }

    /// The node that leads, once exactly one running node does.
    func leader(excluding excluded: Set<NodeID> = []) async throws -> NodeID {
        var leader: NodeID?
        try await eventually("one leader among \(self.ids.filter { !excluded.contains($0) }); states: \(self.describe())") {
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

/// A transport that can cut its node off (`muted`): Raft messages it would send and receive are
/// dropped, as in a partition (unary calls still pass).
final class MutableTransport: WrappingTransport {
    let inner: any RaftTransport
    private let state = Mutex(false)

    init(_ inner: any RaftTransport) { self.inner = inner }

    var muted: Bool {
        get { self.state.withLock { $0 } }
        set { self.state.withLock { $0 = newValue } }
    }

    func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try await self.inner.serve(MutableHandler(inner: handler, transport: self), at: address)
    }

    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        guard !self.muted else { return }
        await self.inner.send(message, snapshot: snapshot, to: address)
    }

    func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        guard !self.muted else { return false }
        return await self.inner.sendSnapshot(message, from: source, to: address)
    }

    func disconnect(from address: String) { self.inner.disconnect(from: address) }

    /// Passes everything to the node but Raft messages that arrive while muted.
    struct MutableHandler: RaftTransportHandler {
        let inner: any RaftTransportHandler
        let transport: MutableTransport

        var nodeID: NodeID { self.inner.nodeID }
        var peerInfo: PeerInfo { self.inner.peerInfo }
        var knownLeader: (id: NodeID, address: String)? { self.inner.knownLeader }
        var committedMembership: CommittedMembership? { self.inner.committedMembership }
        var peerCredentials: PeerCredentials { self.inner.peerCredentials }
        var status: RaftNode.Status? { self.inner.status }

        func receive(_ message: Message, snapshot: [UInt8]?) async {
            guard !self.transport.muted else { return }
            await self.inner.receive(message, snapshot: snapshot)
        }

        func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
            try await self.inner.handleForwarded(request, timeout: timeout)
        }

        func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String? {
            self.inner.admit(peer, presenting: credentials)
        }

        func awaitCapacity() async { await self.inner.awaitCapacity() }
    }
}

/// Serves `handler` with a `GRPCTransport` on a free loopback port for the duration of `body`,
/// which gets the address and a client transport (closed afterwards).
func withServedHandler(
    _ handler: some RaftTransportHandler, _ body: (String, GRPCTransport) async throws -> Void
) async throws {
    let address = "127.0.0.1:\(freePort())"
    let server = GRPCTransport()
    let client = GRPCTransport()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(handler, at: address) }
        try await eventually("the server answers") { (try? await client.askNodeID(at: address)) != nil }
        try await body(address, client)
        group.cancelAll()
    }
    client.close()
}
