import RaftCore

/// The handler a ``RaftNode`` gives its transport: forwards every call to the node, whose own
/// methods for them are not public.
struct NodeTransportHandler: RaftTransportHandler {
    let node: RaftNode

    var nodeID: NodeID { self.node.nodeID }
    var peerInfo: PeerInfo { self.node.peerInfo }
    var knownLeader: (id: NodeID, address: String)? { self.node.knownLeader }
    var committedMembership: CommittedMembership? { self.node.committedMembership }
    var peerCredentials: PeerCredentials { self.node.peerCredentials }
    var status: RaftNode.Status? { self.node.status }

    func receive(_ message: Message, snapshot: [UInt8]?) async { await self.node.receive(message, snapshot: snapshot) }

    func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)? { self.node.makeSnapshotWriter(for: metadata) }

    func receive(_ message: Message, spooled snapshot: SpooledSnapshot) async { await self.node.receive(message, spooled: snapshot) }

    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        try await self.node.handleForwarded(request, timeout: timeout)
    }

    func awaitCapacity() async { await self.node.awaitCapacity() }

    func admit(_ peer: NodeID, presenting credentials: PeerCredentials) -> String? { self.node.admit(peer, presenting: credentials) }
}
