package import RaftCore

/// Identifies a caller waiting for a ``NodeEngine`` answer; the executor maps it to the caller.
package typealias RequestID = UInt64

/// What a caller asks of a node.
package enum NodeRequest: Sendable {
    case propose([UInt8])
    case read([UInt8], RaftNode.ReadConsistency)
    case transfer(to: NodeID?)
    case membership(MembershipChange)
    case bootstrap
}

/// Something that happened to a node, for ``NodeEngine/handle(_:now:)``.
package enum NodeInput: Sendable {
    /// The tick timer fired (time itself enters as `now`: this only wakes the node).
    case tick
    case message(Message, snapshot: ReceivedSnapshot?)
    /// A peer's id, learned by asking the address.
    case discovered(address: String, PeerInfo)
    case request(RequestID, NodeRequest, deadline: ContinuousClock.Instant)
    case learnedAddress(id: NodeID, address: String)
    /// The state machine's snapshot at `metadata` was written (or failed).
    case snapshotWritten(SnapshotMetadata, failure: RaftError?)
    /// A transfer of the snapshot at `index` to `peer` (``NodeAction/send(_:to:)`` of an
    /// InstallSnapshot) is over: `delivered` if the peer took it whole.
    case snapshotSent(to: NodeID, index: UInt64, delivered: Bool)
    case stop

    var isMessage: Bool {
        if case .message = self { true } else { false }
    }
}
