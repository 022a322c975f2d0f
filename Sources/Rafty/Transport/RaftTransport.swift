public import RaftCore

/// A node's committed view of the membership, as the Health call reports it.
public struct CommittedMembership: Sendable, Hashable {
    /// The answering node's id.
    public var id: NodeID
    /// Whether it leads (only a leader's view tells a removed node it was removed).
    public var isLeader: Bool
    /// Its current term.
    public var term: UInt64
    /// The members of the configuration at its commit index.
    public var members: Set<NodeID>
    /// Its cluster id (0: unknown).
    public var clusterID: UInt64

    /// Creates a view.
    public init(id: NodeID, isLeader: Bool, term: UInt64, members: Set<NodeID>, clusterID: UInt64 = 0) {
        self.id = id
        self.isLeader = isLeader
        self.term = term
        self.members = members
        self.clusterID = clusterID
    }
}

/// Who a node is, as AskNodeID answers.
public struct PeerInfo: Sendable, Hashable {
    /// The node's id.
    public var id: NodeID
    /// Whether it votes (false: a read-only node).
    public var isVoter: Bool
    /// Its cluster id and data-directory incarnation (``PeerCredentials/none`` if unknown).
    public var credentials: PeerCredentials

    /// Creates peer information.
    public init(id: NodeID, isVoter: Bool, credentials: PeerCredentials = .none) {
        self.id = id
        self.isVoter = isVoter
        self.credentials = credentials
    }
}

/// What a node presents with every Raft message it sends (see ``NodeIdentity``).
public struct PeerCredentials: Sendable, Hashable {
    /// Its cluster's id (0: none yet).
    public var clusterID: UInt64
    /// Its data directory's incarnation (0: a handler that has none).
    public var incarnation: UInt64

    /// Creates credentials.
    public init(clusterID: UInt64, incarnation: UInt64) {
        self.clusterID = clusterID
        self.incarnation = incarnation
    }

    /// Those of a handler that is not a node.
    public static let none = PeerCredentials(clusterID: 0, incarnation: 0)
}

/// What a node offers to its transport: inbound Raft messages and the unary RPCs.
public protocol RaftTransportHandler: Sendable {
    /// This node's id.
    var nodeID: NodeID { get }
    /// This node's id and role (AskNodeID).
    var peerInfo: PeerInfo { get }
    /// Delivers a Raft message (with the snapshot bytes for InstallSnapshot).
    func receive(_ message: Message, snapshot: [UInt8]?) async
    /// A writer into this node's snapshot store for a snapshot a peer is sending, so that the
    /// transport writes it to disk as it arrives instead of collecting it in memory; nil to
    /// receive it in memory.
    func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)?
    /// Delivers an InstallSnapshot message whose snapshot the transport wrote with a writer
    /// from ``makeSnapshotWriter(for:)``.
    func receive(_ message: Message, spooled snapshot: SpooledSnapshot) async
    /// Serves a request a follower forwarded to this node as leader.
    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer
    /// The leader this node knows of (GetLeader), if any.
    var knownLeader: (id: NodeID, address: String)? { get }
    /// The committed membership this node knows, if it is in a cluster.
    var committedMembership: CommittedMembership? { get }
    /// What this node presents with the messages it sends.
    var peerCredentials: PeerCredentials { get }
    /// Returns once the node has room for another inbound Raft message; a transport waits on it
    /// before reading the next one, so that a slow node pushes back on its peers.
    func awaitCapacity() async
    /// Whether to accept messages from node `peer` presenting `credentials`: nil to accept, or
    /// why not. A transport asks once per stream and whenever a stream's credentials change.
    func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String?
    /// The node's status, for a transport's health and leader queries (nil: a handler that is not
    /// a node).
    var status: RaftNode.Status? { get }
}

extension RaftTransportHandler {
    /// A handler that is not a full node knows no leader.
    public var knownLeader: (id: NodeID, address: String)? { nil }
    /// A handler that is not a full node knows no membership.
    public var committedMembership: CommittedMembership? { nil }
    /// A handler that is not a full node receives snapshots in memory.
    public func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)? { nil }
    /// A handler that hands out no writers receives no spooled snapshots.
    public func receive(_ message: Message, spooled snapshot: SpooledSnapshot) async {}
    /// A handler that is not a full node always has room.
    public func awaitCapacity() async {}
    /// A handler that is not a full node presents nothing.
    public var peerCredentials: PeerCredentials { .none }
    /// A handler that is not a full node accepts everyone.
    public func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String? { nil }
    /// A handler that is not a full node has no status.
    public var status: RaftNode.Status? { nil }
}

/// How nodes reach each other. ``InProcessNetwork`` implements it in memory; RaftyGRPC over HTTP/2.
public protocol RaftTransport: Sendable {
    /// Serves `handler` at `address` until the calling task is cancelled. It returns once the node
    /// can be reached (or throws if it cannot listen), so call it in a child task.
    func serve(_ handler: any RaftTransportHandler, at address: String) async throws
    /// Sends a Raft message; delivery is best effort (Raft tolerates loss).
    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async
    /// Sends an InstallSnapshot message with its snapshot read from `source` chunk by chunk, so
    /// that the sender need not hold it whole; best effort like ``send(_:snapshot:to:)``.
    ///
    /// Returns once the transfer is over: true if the receiver took the whole snapshot (or the
    /// transport cannot tell), false if it failed or was not attempted. The node keeps the log
    /// behind a snapshot it streams, so the follower goes on from the log once it installs it.
    @discardableResult
    func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool
    /// Asks the node at `address` for its id and role.
    func askNodeID(at address: String) async throws(RaftError) -> PeerInfo
    /// Asks the node at `address` which leader it knows (GetLeader); nil if none.
    func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)?
    /// Forwards a request to the node at `address`.
    func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer
    /// The committed membership the node at `address` knows (nil if the transport cannot tell).
    func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership?
    /// Closes what the transport keeps open for `address` (a member was removed); a later send
    /// or call opens it again.
    func disconnect(from address: String)
}

extension RaftTransport {
    /// Transports that cannot ask report nothing (a removed node then never learns it on its own).
    public func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? { nil }
    /// Transports that cannot stream read the snapshot whole and send it.
    @discardableResult
    public func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        guard let bytes = try? source.readAll() else { return false }
        await self.send(message, snapshot: bytes, to: address)
        return true
    }
    /// Transports that keep nothing open have nothing to close.
    public func disconnect(from address: String) {}
}
