internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
public import Logging
public import RaftCore
public import Rafty
private import Synchronization

public import class NIOPosix.MultiThreadedEventLoopGroup

/// A `RaftTransport` over gRPC (HTTP/2, grpc-swift-2) with protobuf messages (`Protos/rafty.proto`).
///
/// - Raft messages travel over one long-lived client-to-server `Exchange` stream per peer address,
///   fed by a per-peer queue (oldest dropped past a limit) and re-established with backoff after failures; replies travel on the
///   peer's own stream back to this node.
/// - Snapshots travel through `InstallSnapshot` as a client stream of chunks of at most
///   ``Configuration-swift.struct/snapshotChunkBytes`` (1 MiB), the last one carrying a CRC32C.
/// - `AskNodeID` and `Forward` are unary calls with deadlines; `Forward` carries `RaftError`s
///   back to the follower (see `RaftErrorMapping`).
///
/// One instance per node: it keeps one client connection per peer address, created lazily and
/// reused. The connections close when ``serve(_:at:)`` returns (or on ``close()``).
public final class GRPCTransport: RaftTransport {
    /// Tunables of the transport.
    public struct Configuration: Sendable {
        /// Deadline of `AskNodeID`, `GetLeader` and `Health` calls.
        public var unaryTimeout: Duration = .seconds(2)
        /// Deadline of one whole `InstallSnapshot` call.
        public var snapshotTimeout: Duration = .seconds(120)
        /// Size of the chunks a snapshot is cut into.
        public var snapshotChunkBytes: Int = 1 << 20
        /// Largest snapshot accepted from a peer (it is reassembled in memory).
        public var maxSnapshotBytes: Int = 4 << 30
        /// Largest single gRPC message, in either direction (ordinary messages are ≤ 16 MiB).
        public var maxMessageBytes: Int = 32 << 20
        /// Raft messages queued per peer while its stream is (re)connecting; the oldest are dropped.
        public var outboundQueueLimit: Int = 4096
        /// First and largest pause between attempts to re-establish a peer's stream or connection.
        public var reconnectBackoff: (initial: Duration, max: Duration) = (.milliseconds(20), .seconds(1))
        /// How long a stopping server waits, after telling peers to open no more streams, before it
        /// cancels the streams still open; default 200 ms.
        public var shutdownGracePeriod: Duration = .milliseconds(200)
        /// Mutual TLS for every peer connection, both directions; nil (default): plaintext.
        public var tls: PeerTLS?
        /// Where the transport logs peer streams lost and re-established, snapshots sent, and
        /// peers refused (at most once a minute per kind). Default: no logging.
        public var logger = Logger(label: "rafty.transport", factory: { _ in SwiftLogNoOpLogHandler() })
        /// The event loops of the peer connections; nil (default): NIO's shared group, with the
        /// transport's tasks in Swift's global pool. With a group of its own, best of one thread,
        /// the transport's tasks run on that loop too (``GRPCTransport/taskExecutor``); the caller
        /// shuts the group down after the transport closed.
        public var eventLoopGroup: MultiThreadedEventLoopGroup?
        /// How long a connection may hold written bytes before it sends them, to send more at once
        /// (grpc-swift's flush coalescing, up to 64 KiB); nil (default): sent at once. A peer's
        /// messages of one loop iteration already leave together, and a delay here is paid twice
        /// by every write (the append and its acknowledgement): the 100 µs gRPC's default asks
        /// for cost 0.2–0.35 ms per hop on a 2-core VM (timer wake-ups), a quarter of the latency
        /// of a write at one client.
        public var flushDelay: Duration?

        /// The event loop group of the connections.
        var connectionGroup: MultiThreadedEventLoopGroup { self.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton }

        /// The defaults.
        public init() {}
    }

    /// The transport's configuration.
    public let configuration: Configuration

    /// With ``Configuration-swift.struct/eventLoopGroup`` set: the executor of one of its event
    /// loops, which the transport's streams and handlers prefer. Run the node under it too
    /// (`withTaskExecutorPreference(transport.taskExecutor) { try await node.run() }`, as
    /// `rafty serve` does): a message read from a peer then reaches the node's loop, and the loop's
    /// messages reach the peers' connections, on one thread, without waking a thread of Swift's
    /// pool at each step (on 2 cores: 30 % more writes/s at 16 clients, fewer than half the
    /// context switches on a follower). Blocking work (snapshot files) leaves it for the pool.
    public let taskExecutor: EventLoopTaskExecutor?

    private struct State {
        var peers: [String: Peer] = [:]
        /// Peers closed whose tasks may still run (``shutdown()`` waits for them).
        var retired: [Peer] = []

        /// Keeps `peers` (just closed) until their tasks end; forgets the retired ones that ended.
        mutating func retire(_ peers: some Sequence<Peer>) {
            self.retired.removeAll { $0.isFinished }
            self.retired += peers
        }
        var closed = false
        /// The node served, whose credentials go with every message sent.
        var handler: (any RaftTransportHandler)?
    }

    private let state = Mutex(State())

    /// Creates a transport; nothing listens or connects until it is used (calls work before
    /// ``serve(_:at:)`` too, so a client-only transport is possible).
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.taskExecutor = configuration.eventLoopGroup.map { EventLoopTaskExecutor($0.next()) }
    }

    deinit {
        self.close()
    }

    // MARK: - Serving

    /// Serves `handler` on `address` (`host:port`) until the calling task is cancelled, then stops
    /// the server and closes this transport's client connections.
    ///
    /// - Throws: when the server cannot listen (for example the port is in use) or fails later.
    public func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        self.state.withLock { state in
            state.closed = false
            state.handler = handler
        }
        self.taskExecutor?.reopen()
        defer { self.close() }
        let endpoint = try PeerAddress(parsing: address)
        if let tls = self.configuration.tls {
            let id = try tls.nodeID()
            guard id == handler.nodeID else {
                throw RaftError(
                    .invalidConfiguration, "peer TLS: the certificate in '\(tls.certificateChainFile)' is node \(id)'s, not node \(handler.nodeID)'s")
            }
        }
        let service = RaftPeerService(handler: handler, configuration: self.configuration)
        let transport = HTTP2ServerTransport.Posix(
            address: try endpoint.bindAddress, transportSecurity: self.configuration.tls?.serverSecurity ?? .plaintext,
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = self.configuration.maxMessageBytes
                config.connection.flushCoalescing = self.configuration.flushDelay.map { .init(maxFlushDelay: $0, maxBytes: 64 << 10) }
            }, eventLoopGroup: self.configuration.connectionGroup)
        let server = GRPCServer(transport: transport, services: [service])
        // Not a child task: cancelling the caller must not cancel the server before its graceful
        // shutdown told the peers (GOAWAY) to open no more streams. A server cancelled while a
        // peer's new HTTP/2 stream arrives traps in swift-nio-http2 ("Deinited NIOAsyncWriter
        // without calling finish()"), which crashed test runs whenever a node stopped under traffic.
        let serving = Task(executorPreference: self.taskExecutor) { try await server.serve() }
        // Fails (and ends serve()) if the server cannot bind; the server's task holds the cause.
        do {
            _ = try await transport.listeningAddress
        } catch {
            var cause: any Error = error
            do { try await serving.value } catch let serveError { cause = serveError }
            throw RaftError(.unreachable, "cannot listen on \(address): \(cause)")
        }
        // Runs until the calling task is cancelled or the server fails at run time (rethrown).
        // Peers' long-lived Exchange streams keep a graceful shutdown from finishing: once the
        // GOAWAY had time to arrive, the server is cancelled.
        let grace = self.configuration.shutdownGracePeriod
        do {
            try await withTaskCancellationHandler {
                try await serving.value
            } onCancel: {
                server.beginGracefulShutdown()
                Task {
                    try? await Task.sleep(for: grace)
                    serving.cancel()
                }
            }
        } catch {
            // A server cancelled with us may throw on the way out: that is a normal stop.
            if !Task.isCancelled { throw error }
        }
    }

    /// Closes every client connection; until the next ``serve(_:at:)``, sends are dropped and calls
    /// fail with `RaftError/Code/shuttingDown`, and tasks that prefer ``taskExecutor`` run in
    /// Swift's global pool (the event loop group may be shut down).
    public func close() {
        self.taskExecutor?.close()
        let peers = self.state.withLock { state in
            defer { state.peers = [:] }
            state.closed = true
            state.retire(state.peers.values)
            return Array(state.peers.values)
        }
        for peer in peers { peer.close() }
    }

    /// Closes the transport (``close()``) and returns once every connection it made is closed and
    /// its tasks ended: then its event loop group (``Configuration-swift.struct/eventLoopGroup``)
    /// may be shut down.
    public func shutdown() async {
        self.close()
        let peers = self.state.withLock { state in
            defer { state.retired = [] }
            return state.retired
        }
        for peer in peers { await peer.finished() }
    }

    /// Closed peers whose tasks may still run.
    var retiredPeers: [Peer] { self.state.withLock { $0.retired } }

    // MARK: - Client side

    /// The peer addresses this transport keeps a client connection to.
    public var connectedAddresses: [String] { self.state.withLock { $0.peers.keys.sorted() } }

    /// Closes the connection to `address` (its member was removed); a later send reconnects.
    public func disconnect(from address: String) {
        let peer = self.state.withLock { state in
            let peer = state.peers.removeValue(forKey: address)
            if let peer { state.retire([peer]) }
            return peer
        }
        peer?.close()
    }

    /// The connection to `address`; with peer TLS and `id`, one whose server must be node `id`
    /// (a connection that expects another node is replaced: the address changed hands).
    private func peer(_ address: String, expecting id: NodeID? = nil) throws(RaftError) -> Peer {
        let (peer, replaced) = try self.state.withLock { state throws(RaftError) -> (Peer, Peer?) in
            let existing = state.peers[address]
            if let existing, let id, self.configuration.tls != nil, !existing.identity.expect(id) {
                // Fall through: a new connection for the new node.
            } else if let existing {
                return (existing, nil)
            }
            guard !state.closed else { throw RaftError(.shuttingDown, "the transport is closed") }
            let peer = try Peer(address: address, configuration: self.configuration, executor: self.taskExecutor, expecting: id)
            state.peers[address] = peer
            return (peer, existing)
        }
        if let replaced {
            self.state.withLock { $0.retire([replaced]) }
            replaced.close()
        }
        return peer
    }

    /// What the served node presents with every message (nothing before ``serve(_:at:)``).
    private var credentials: PeerCredentials { self.state.withLock { $0.handler }?.peerCredentials ?? .none }

    /// The protobuf form of `message`, stamped with this node's credentials.
    private func stamped(_ message: Message) -> Rafty_V1_RaftMessage {
        let credentials = self.credentials
        var proto = Rafty_V1_RaftMessage(message)
        proto.clusterID = credentials.clusterID
        proto.incarnation = credentials.incarnation
        return proto
    }

    /// Queues a Raft message on the peer's `Exchange` stream; a message with snapshot bytes goes
    /// through `InstallSnapshot` instead (one at a time per peer: a second one is dropped).
    public func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        if let snapshot, case .installSnapshot = message.body {
            // Whole bytes from a caller that does not wait for the transfer: stream them on a task.
            Task { await self.sendSnapshot(message, from: SnapshotSource(bytes: snapshot), to: address) }
            return
        }
        guard let peer = try? self.peer(address, expecting: message.to) else { return }
        peer.enqueue(self.stamped(message))
    }

    /// Streams an InstallSnapshot message's snapshot from `source` in chunks through
    /// `InstallSnapshot` (one at a time per peer: a second one is dropped and reported not sent);
    /// at most one chunk is held in memory. Returns when the receiver answered or the call failed.
    @discardableResult
    public func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        guard case .installSnapshot = message.body, let peer = try? self.peer(address, expecting: message.to) else { return false }
        return await peer.sendSnapshot(self.stamped(message), from: source)
    }

    /// Asks the node at `address` for its id and role (`AskNodeID`).
    public func askNodeID(at address: String) async throws(RaftError) -> PeerInfo {
        let peer = try self.peer(address)
        do {
            let response = try await peer.client.askNodeID(.init(), options: peer.unaryOptions(self.configuration.unaryTimeout))
            return PeerInfo(
                id: response.id, isVoter: response.isVoter,
                credentials: PeerCredentials(clusterID: response.clusterID, incarnation: response.incarnation))
        } catch {
            throw RaftErrorMapping.raftError(error, address: address)
        }
    }

    /// Forwards a request to the node at `address` (`Forward`); the leader's `RaftError` codes come
    /// back as they were thrown there.
    public func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        let peer = try self.peer(address)
        do {
            // A little slack so that the leader's own timeout answers first.
            let options = peer.unaryOptions(timeout + .milliseconds(200))
            var proto = Rafty_V1_ForwardRequest(request, timeout: timeout)
            proto.clusterID = self.credentials.clusterID
            let response = try await peer.client.forward(proto, options: options)
            do {
                return try ForwardedAnswer(response)
            } catch {
                // The leader may have carried the request out: its outcome is unknown.
                throw RaftError(.timedOut, "the node at \(address) answered unreadably (\(error)); the outcome is unknown")
            }
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftErrorMapping.raftError(error, address: address)
        }
    }

    /// What the node at `address` believes about the leader (`GetLeader`).
    public func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? {
        let peer = try self.peer(address)
        do {
            let response = try await peer.client.getLeader(.init(), options: peer.unaryOptions(self.configuration.unaryTimeout))
            return response.leaderID == 0 ? nil : (response.leaderID, response.leaderAddress)
        } catch {
            throw RaftErrorMapping.raftError(error, address: address)
        }
    }

    /// The committed membership the node at `address` reports (`Health`); nil before it has one.
    public func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? {
        let health = try await self.health(at: address)
        guard !health.committedMembers.isEmpty else { return nil }
        return CommittedMembership(
            id: health.id, isLeader: health.state == "leader", term: health.term, members: Set(health.committedMembers),
            clusterID: health.clusterID)
    }

    /// The node at `address`'s health summary (`Health`).
    package func health(at address: String) async throws(RaftError) -> Rafty_V1_HealthResponse {
        let peer = try self.peer(address)
        do {
            return try await peer.client.health(.init(), options: peer.unaryOptions(self.configuration.unaryTimeout))
        } catch {
            throw RaftErrorMapping.raftError(error, address: address)
        }
    }
}

// MARK: - Addresses

extension PeerAddress {
    /// Where a server for this address listens: exactly the address asked for (a host name is
    /// resolved, and the server binds its first address, never every interface).
    var bindAddress: SocketAddress {
        get throws(RaftError) {
            switch self.host {
            case .ipv4(let host): return .ipv4(host: host, port: self.port)
            case .ipv6(let host): return .ipv6(host: host, port: self.port)
            case .name("localhost"): return .ipv4(host: "127.0.0.1", port: self.port)
            case .name(let name):
                guard let resolved = Self.resolve(name) else {
                    throw RaftError(.invalidConfiguration, "cannot resolve '\(name)' to an address to listen on")
                }
                return resolved.isIPv6 ? .ipv6(host: resolved.address, port: self.port) : .ipv4(host: resolved.address, port: self.port)
            }
        }
    }

    /// The first address `host` resolves to.
    static func resolve(_ host: String) -> (address: String, isIPv6: Bool)? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        let address = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (address, first.pointee.ai_family == AF_INET6)
    }

    /// How a client reaches this address.
    var target: any ResolvableTarget {
        switch self.host {
        case .ipv4(let host): ResolvableTargets.IPv4.ipv4(address: host, port: self.port)
        case .ipv6(let host): ResolvableTargets.IPv6.ipv6(address: host, port: self.port)
        case .name(let name): ResolvableTargets.DNS.dns(host: name, port: self.port)
        }
    }
}

// MARK: - One peer: a connection, its Exchange stream, its snapshot sender

final class Peer: Sendable {
    let address: String
    /// With peer TLS: the node the server must prove to be.
    let identity: ServerIdentity
    let client: Rafty_V1_RaftPeer.Client<HTTP2ClientTransport.Posix>
    private let grpcClient: GRPCClient<HTTP2ClientTransport.Posix>
    private let configuration: GRPCTransport.Configuration
    private let outbound: OutboundQueue<Rafty_V1_RaftMessage>

    private struct State {
        var tasks: [Task<Void, Never>] = []
        /// Of `tasks`, those still running.
        var running = 0
        var snapshotInFlight = false
        var closed = false
    }

    private let state = Mutex(State())

    init(
        address: String, configuration: GRPCTransport.Configuration, executor: (any TaskExecutor)?, expecting id: NodeID? = nil
    ) throws(RaftError) {
        self.address = address
        self.configuration = configuration
        let identity = ServerIdentity(expected: id)
        self.identity = identity
        let endpoint = try PeerAddress(parsing: address)
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: endpoint.target,
                transportSecurity: try configuration.tls.map { tls throws(RaftError) in try tls.clientSecurity(checking: identity) } ?? .plaintext,
                config: .defaults { config in
                    config.backoff = .init(
                        initial: configuration.reconnectBackoff.initial, max: configuration.reconnectBackoff.max,
                        multiplier: 1.6, jitter: 0.2)
                    config.connection.flushCoalescing = configuration.flushDelay.map { .init(maxFlushDelay: $0, maxBytes: 64 << 10) }
                }, eventLoopGroup: configuration.connectionGroup)
        } catch {
            throw RaftError(.unreachable, "cannot create a client for \(address): \(error)")
        }
        let grpcClient = GRPCClient(transport: transport)
        self.grpcClient = grpcClient
        self.client = Rafty_V1_RaftPeer.Client(wrapping: grpcClient)
        self.outbound = OutboundQueue(limit: configuration.outboundQueueLimit)
        self.state.withLock { $0.running = 2 }
        let connections = Task(executorPreference: executor) { [self] in
            defer { self.state.withLock { $0.running -= 1 } }
            _ = try? await grpcClient.runConnections()
        }
        let exchange = Task(executorPreference: executor) { [self] in
            defer { self.state.withLock { $0.running -= 1 } }
            await self.runExchange()
        }
        self.state.withLock { $0.tasks = [connections, exchange] }
    }

    func unaryOptions(_ timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        options.maxRequestMessageBytes = self.configuration.maxMessageBytes
        options.maxResponseMessageBytes = self.configuration.maxMessageBytes
        return options
    }

    func enqueue(_ message: Rafty_V1_RaftMessage) {
        self.outbound.push(message)
    }

    func close() {
        let tasks = self.state.withLock { state in
            state.closed = true
            return state.tasks
        }
        self.outbound.finish()
        self.grpcClient.beginGracefulShutdown()
        for task in tasks { task.cancel() }
    }

    private var isClosed: Bool { self.state.withLock { $0.closed } }

    /// Returns once the connection and stream tasks ended (after ``close()``).
    /// Whether the connection and stream tasks ended.
    var isFinished: Bool { self.state.withLock { $0.running == 0 } }

    func finished() async {
        for task in self.state.withLock({ $0.tasks }) { await task.value }
    }

    /// Keeps one `Exchange` stream open, writing every queued message; re-opens it after a failure.
    private func runExchange() async {
        var options = CallOptions.defaults
        options.waitForReady = true
        options.maxRequestMessageBytes = self.configuration.maxMessageBytes
        var backoff = self.configuration.reconnectBackoff.initial
        let logger = self.configuration.logger
        let address = self.address
        // Logged on transitions only: a peer that stays down is not logged at every retry. A peer
        // that refuses this node (another cluster, data lost) is logged once a minute.
        let connected = Mutex(false)
        let failures = Mutex(0)
        let refused = RateLimitedLogger(logger)
        let lastFailureWasRefusal = Mutex(false)
        while !Task.isCancelled && !self.isClosed {
            let started = ContinuousClock.now
            do {
                try await self.client.exchange(options: options) { [outbound = self.outbound] writer in
                    let wasDown = connected.withLock { state in
                        defer { state = true }
                        return !state
                    }
                    let failed = failures.withLock { count in
                        defer { count = 0 }
                        return count
                    }
                    if wasDown, !lastFailureWasRefusal.withLock({ $0 }) {
                        logger.info("peer stream open", metadata: ["raft.peer": "\(address)", "raft.failed_attempts": "\(failed)"])
                    }
                    while let batch = await outbound.next() {
                        try await writer.write(contentsOf: batch)
                    }
                } onResponse: { response in
                    for try await _ in response.messages {}
                }
            } catch {
                // Fall through to the backoff: the stream or the connection failed.
                failures.withLock { $0 += 1 }
                let wasUp = connected.withLock { state in
                    defer { state = false }
                    return state
                }
                if let error = error as? RPCError, error.code == .permissionDenied {
                    lastFailureWasRefusal.withLock { $0 = true }
                    refused.error("refused", "peer \(address) refuses this node's messages: \(error.message)")
                } else {
                    lastFailureWasRefusal.withLock { $0 = false }
                    if wasUp, !self.isClosed {
                        logger.warning("peer stream lost; reconnecting", metadata: ["raft.peer": "\(address)", "error": "\(error)"])
                    }
                }
            }
            if self.isClosed || Task.isCancelled { return }
            if ContinuousClock.now - started > .seconds(5) { backoff = self.configuration.reconnectBackoff.initial }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, self.configuration.reconnectBackoff.max)
        }
    }

    /// Streams a snapshot in chunks; drops it (false) if one is already in flight.
    func sendSnapshot(_ message: Rafty_V1_RaftMessage, from source: SnapshotSource) async -> Bool {
        let start = self.state.withLock { state in
            guard !state.snapshotInFlight, !state.closed else { return false }
            state.snapshotInFlight = true
            return true
        }
        guard start else { return false }
        let chunkSize = max(1, self.configuration.snapshotChunkBytes)
        var options = CallOptions.defaults
        options.timeout = self.configuration.snapshotTimeout
        options.waitForReady = false
        options.maxRequestMessageBytes = self.configuration.maxMessageBytes
        let logger = self.configuration.logger
        let address = self.address
        do {
            defer { self.state.withLock { $0.snapshotInFlight = false } }
            let started = ContinuousClock.now
            let total = source.size
            logger.info("sending a snapshot", metadata: ["raft.peer": "\(address)", "raft.snapshot.bytes": "\(total)"])
            do {
                _ = try await self.client.installSnapshot(options: options) { writer in
                    var checksum = CRC32C()
                    var offset = 0
                    repeat {
                        let bytes = try source.read(maxBytes: min(chunkSize, max(1, total - offset)))
                        guard !bytes.isEmpty || offset == total else {
                            throw RaftError(.storage, "the stored snapshot ended at \(offset) of \(total) bytes")
                        }
                        checksum.update(bytes)
                        var chunk = Rafty_V1_SnapshotChunk()
                        if offset == 0 {
                            chunk.message = message
                            chunk.totalSize = UInt64(total)
                        }
                        chunk.offset = UInt64(offset)
                        chunk.data = Data(bytes)
                        offset += bytes.count
                        if offset >= total {
                            chunk.last = true
                            chunk.crc32C = checksum.value
                        }
                        try await writer.write(chunk)
                    } while offset < total
                }
                logger.info("snapshot sent", metadata: ["raft.peer": "\(address)", "raft.snapshot.duration": "\(ContinuousClock.now - started)"])
                return true
            } catch {
                // Best effort: the leader sends InstallSnapshot again.
                logger.warning("sending a snapshot failed", metadata: ["raft.peer": "\(address)", "error": "\(error)"])
                return false
            }
        }
    }
}
