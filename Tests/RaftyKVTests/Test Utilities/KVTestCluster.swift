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
import RaftyTesting
import Synchronization

/// RaftyTesting's cluster harness (in process) with a ``KVStore`` on every node and a
/// ``KVHTTPServer`` beside it on a free loopback port, with its own Prometheus registry (the
/// node's metrics go there).
final class KVTestCluster: Sendable {
    struct Member: Sendable {
        let node: RaftNode
        let store: KVStore
        let server: KVHTTPServer
        let registry: PrometheusCollectorRegistry
    }

    let nodes: LocalCluster<KVStore>
    let limits: KVLimits
    let requestTimeout: Duration
    let membershipTimeout: Duration
    private let members = Mutex<[NodeID: Member]>([:])

    init(size: Int, limits: KVLimits = .default, requestTimeout: Duration = .seconds(5), membershipTimeout: Duration = .seconds(30)) {
        self.nodes = LocalCluster(size: size, configure: { $0.persistDataOnDisk = false }, stateMachine: { _ in KVStore() })
        self.limits = limits
        self.requestTimeout = requestTimeout
        self.membershipTimeout = membershipTimeout
    }

    func address(_ id: NodeID) -> String { self.nodes.address(id) }
    func member(_ id: NodeID) -> Member { self.members.withLock { $0[id]! } }
    func node(_ id: NodeID) -> RaftNode { self.nodes.node(id) }
    func store(_ id: NodeID) -> KVStore { self.nodes.stateMachine(id) }
    var ids: [NodeID] { self.nodes.ids }
    func setIsolated(_ id: NodeID, _ isolated: Bool) { self.nodes.setIsolated(id, isolated) }

    /// Starts node `id` and runs its HTTP server in `group` (cancelling the group stops it).
    func start(
        _ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>,
        configure: (inout RaftNode.Configuration) -> Void = { _ in }
    ) throws {
        let registry = PrometheusCollectorRegistry()
        let node = try self.nodes.start(id) { configuration in
            configuration.metricsFactory = PrometheusMetricsFactory(registry: registry)
            configure(&configuration)
        }
        let server = KVHTTPServer(
            node: node, limits: self.limits, port: 0, registry: registry, requestTimeout: self.requestTimeout,
            membershipTimeout: self.membershipTimeout,
            logger: Logger(label: "kv-test", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.members.withLock { $0[id] = Member(node: node, store: self.nodes.stateMachine(id), server: server, registry: registry) }
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
        try await self.nodes.leader(excluding: excluded)
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

    /// Stops every node and removes their data; the caller then cancels the group (which stops
    /// the HTTP servers).
    func stopAll() async throws {
        try await self.nodes.shutdown()
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
