import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import RaftCore
import Rafty
import RaftyKV
import RaftyTestSupport
import Synchronization

/// Nodes on an in-process network, each running a ``KVStore`` with a ``KVHTTPServer`` on a free
/// loopback port and its own Prometheus registry (the node's metrics go there).
final class KVTestCluster: Sendable {
    struct Member: Sendable {
        let node: RaftNode
        let store: KVStore
        let server: KVHTTPServer
        let registry: PrometheusCollectorRegistry
    }

    let network = InProcessNetwork()
    let size: Int
    let limits: KVLimits
    let requestTimeout: Duration
    let membershipTimeout: Duration
    private let members = Mutex<[NodeID: Member]>([:])

    init(size: Int, limits: KVLimits = .default, requestTimeout: Duration = .seconds(5), membershipTimeout: Duration = .seconds(30)) {
        self.size = size
        self.limits = limits
        self.requestTimeout = requestTimeout
        self.membershipTimeout = membershipTimeout
    }

    func address(_ id: NodeID) -> String { "10.0.0.\(id):50051" }

    func member(_ id: NodeID) -> Member { self.members.withLock { $0[id]! } }
    func node(_ id: NodeID) -> RaftNode { self.member(id).node }
    func store(_ id: NodeID) -> KVStore { self.member(id).store }
    var ids: [NodeID] { self.members.withLock { $0.keys.sorted() } }

    /// Starts node `id` and its HTTP server in `group`.
    func start(
        _ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>,
        configure: (inout RaftNode.Configuration) -> Void = { _ in }
    ) throws {
        let registry = PrometheusCollectorRegistry()
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = (1...UInt64(self.size)).filter { $0 != id }.map { self.address($0) }
        configuration.persistDataOnDisk = false
        configuration.tickInterval = .milliseconds(10)
        configuration.minimumClusterSize = min(3, self.size)
        configuration.metricsFactory = PrometheusMetricsFactory(registry: registry)
        configure(&configuration)
        let store = KVStore()
        let node = try RaftNode(configuration: configuration, stateMachine: store, transport: self.network)
        let server = KVHTTPServer(
            node: node, limits: self.limits, port: 0, registry: registry, requestTimeout: self.requestTimeout,
            membershipTimeout: self.membershipTimeout,
            logger: Logger(label: "kv-test", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.members.withLock { $0[id] = Member(node: node, store: store, server: server, registry: registry) }
        group.addTask { try await node.run() }
        group.addTask {
            do {
                try await server.run()
            } catch  where Task.isCancelled {
                // The test ended.
            }
        }
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

    /// Sends one request to node `id`'s HTTP server.
    func request(
        _ id: NodeID, _ method: HTTPRequest.Method, _ uri: String, body: [UInt8]? = nil, headers: HTTPFields = [:]
    ) async throws -> HTTPAnswer {
        let server = self.member(id).server
        try await eventually("the HTTP server of node \(id) listens") { server.boundPort != nil }
        let port = server.boundPort!
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            try await client.execute(
                TestClient.Request(uri, method: method, authority: "127.0.0.1", headers: headers, body: body.map { ByteBuffer(bytes: $0) }))
        }
        return HTTPAnswer(status: response.status, headers: response.headers, body: response.body.map { Array($0.readableBytesView) } ?? [])
    }

    /// Stops every node; the caller then cancels the group (which stops the HTTP servers).
    func stopAll() async {
        for id in self.ids { await self.node(id).stop() }
    }
}

/// An HTTP response, body as bytes.
struct HTTPAnswer: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: [UInt8]

    var text: String { String(decoding: self.body, as: UTF8.self) }

    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(self.body)) as? [String: Any] else {
            throw TimedOut(description: "not a JSON object: \(self.text)")
        }
        return object
    }

    /// The `error.code` of an error body.
    func errorCode() throws -> String? {
        (try self.json()["error"] as? [String: Any])?["code"] as? String
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
func percentEncoded(_ bytes: [UInt8]) -> String {
    let unreserved = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))
    return bytes.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
}

func percentEncoded(_ text: String) -> String { percentEncoded(Array(text.utf8)) }
