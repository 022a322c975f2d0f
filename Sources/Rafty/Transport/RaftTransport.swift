public import RaftCore

/// A request forwarded from a follower to the leader.
public enum ForwardedRequest: Sendable, Hashable {
    /// Submit a command; the answer is the state machine's result.
    case submit([UInt8])
    /// A linearizable read; the answer is the state machine's query result.
    case read([UInt8])
    /// Hand leadership to the voter `to` (nil: the most up-to-date one); the answer is the new
    /// leader's id in decimal UTF-8.
    case transferLeadership(to: NodeID?)
    /// A membership change; the answer is the index of its last configuration entry, in decimal UTF-8.
    case membership(MembershipChange)
}

/// Who a node is, as AskNodeID answers.
public struct PeerInfo: Sendable, Hashable {
    /// The node's id.
    public var id: NodeID
    /// Whether it votes (false: a read-only node).
    public var isVoter: Bool

    /// Creates peer information.
    public init(id: NodeID, isVoter: Bool) {
        self.id = id
        self.isVoter = isVoter
    }
}

/// What a node offers to its transport: inbound Raft messages and the unary RPCs.
public protocol RaftTransportHandler: Sendable {
    /// This node's id.
    var nodeID: NodeID { get }
    /// This node's id and role (AskNodeID).
    var peerInfo: PeerInfo { get }
    /// Delivers a Raft message (with the snapshot bytes for InstallSnapshot).
    func receive(_ message: Message, snapshot: [UInt8]?) async
    /// Serves a request a follower forwarded to this node as leader.
    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> [UInt8]
    /// The leader this node knows of (GetLeader), if any.
    var knownLeader: (id: NodeID, address: String)? { get }
}

extension RaftTransportHandler {
    /// A handler that is not a full node knows no leader.
    public var knownLeader: (id: NodeID, address: String)? { nil }
}

/// How nodes reach each other. ``InProcessNetwork`` implements it in memory; RaftyGRPC over HTTP/2.
public protocol RaftTransport: Sendable {
    /// Serves `handler` at `address` until the calling task is cancelled. It returns once the node
    /// can be reached (or throws if it cannot listen), so call it in a child task.
    func serve(_ handler: any RaftTransportHandler, at address: String) async throws
    /// Sends a Raft message; delivery is best effort (Raft tolerates loss).
    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async
    /// Asks the node at `address` for its id and role.
    func askNodeID(at address: String) async throws(RaftError) -> PeerInfo
    /// Asks the node at `address` which leader it knows (GetLeader); nil if none.
    func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)?
    /// Forwards a request to the node at `address`.
    func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> [UInt8]
}
