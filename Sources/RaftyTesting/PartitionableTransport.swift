public import RaftCore
public import Rafty
import Synchronization

/// Wraps a node's transport so that a test can cut the node off as a network partition would:
/// while ``isIsolated`` is set, the Raft messages it sends and receives are dropped and the calls
/// it makes or serves (node id, leader, forwarded requests) fail as unreachable.
public final class PartitionableTransport: RaftTransport {
    /// The transport underneath.
    public let inner: any RaftTransport
    private let isolated: Mutex<Bool>

    /// Wraps `inner`; `isolated` says whether the node starts cut off.
    public init(_ inner: any RaftTransport, isolated: Bool = false) {
        self.inner = inner
        self.isolated = Mutex(isolated)
    }

    /// Whether the node is cut off.
    public var isIsolated: Bool {
        get { self.isolated.withLock { $0 } }
        set { self.isolated.withLock { $0 = newValue } }
    }

    private func checkReachable(_ address: String) throws(RaftError) {
        if self.isIsolated { throw RaftError(.unreachable, "\(address) is unreachable: the node is isolated") }
    }

    /// See `RaftTransport`.
    public func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try await self.inner.serve(IsolatingHandler(inner: handler, transport: self), at: address)
    }

    /// See `RaftTransport`.
    public func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        guard !self.isIsolated else { return }
        await self.inner.send(message, snapshot: snapshot, to: address)
    }

    /// See `RaftTransport`.
    public func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        guard !self.isIsolated else { return false }
        return await self.inner.sendSnapshot(message, from: source, to: address)
    }

    /// See `RaftTransport`.
    public func askNodeID(at address: String) async throws(RaftError) -> PeerInfo {
        try self.checkReachable(address)
        return try await self.inner.askNodeID(at: address)
    }

    /// See `RaftTransport`.
    public func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? {
        try self.checkReachable(address)
        return try await self.inner.leader(at: address)
    }

    /// See `RaftTransport`.
    public func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        try self.checkReachable(address)
        return try await self.inner.forward(request, to: address, timeout: timeout)
    }

    /// See `RaftTransport`.
    public func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? {
        try self.checkReachable(address)
        return try await self.inner.committedMembership(at: address)
    }

    /// See `RaftTransport`.
    public func disconnect(from address: String) { self.inner.disconnect(from: address) }

    /// Passes everything to the node except what arrives while it is isolated.
    struct IsolatingHandler: RaftTransportHandler {
        let inner: any RaftTransportHandler
        let transport: PartitionableTransport

        var nodeID: NodeID { self.inner.nodeID }
        var peerInfo: PeerInfo { self.inner.peerInfo }
        var knownLeader: (id: NodeID, address: String)? { self.transport.isIsolated ? nil : self.inner.knownLeader }
        var committedMembership: CommittedMembership? { self.transport.isIsolated ? nil : self.inner.committedMembership }
        var peerCredentials: PeerCredentials { self.inner.peerCredentials }
        var status: RaftNode.Status? { self.inner.status }

        func receive(_ message: Message, snapshot: [UInt8]?) async {
            guard !self.transport.isIsolated else { return }
            await self.inner.receive(message, snapshot: snapshot)
        }

        func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)? {
            self.inner.makeSnapshotWriter(for: metadata)
        }

        func receive(_ message: Message, spooled snapshot: SpooledSnapshot) async {
            guard !self.transport.isIsolated else { return }
            await self.inner.receive(message, spooled: snapshot)
        }

        func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
            if self.transport.isIsolated { throw RaftError(.unreachable, "node \(self.nodeID) is isolated") }
            return try await self.inner.handleForwarded(request, timeout: timeout)
        }

        func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String? {
            self.inner.admit(peer, presenting: credentials)
        }

        func awaitCapacity() async { await self.inner.awaitCapacity() }
    }
}
