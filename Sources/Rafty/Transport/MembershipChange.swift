public import RaftCore

/// A change to the cluster's membership, as ``RaftNode/changeMembership(_:timeout:)`` carries it
/// out (on the leader; followers forward it).
public enum MembershipChange: Sendable, Hashable, CustomStringConvertible {
    /// Add node `id`, reachable at `address`, as a read-only member; with `asVoter`, promote it once it
    /// has caught up with the leader's log.
    case add(id: NodeID, address: String, asVoter: Bool)
    /// Remove node `id`: a voter is demoted first; the leader hands leadership over first.
    case remove(id: NodeID)
    /// Turn the read-only member `id` into a voter once it has caught up.
    case promote(id: NodeID)
    /// Turn the voter `id` into a read-only member (refused if the remaining voters could not form a quorum).
    case demote(id: NodeID)

    /// The node the change is about.
    public var node: NodeID {
        switch self {
        case .add(let id, _, _), .remove(let id), .promote(let id), .demote(let id): id
        }
    }

    /// `add 4 at 10.0.0.4:50051 as voter`, `remove 2`, ...
    public var description: String {
        switch self {
        case .add(let id, let address, let asVoter): "add \(id) at \(address)\(asVoter ? " as a voter" : " as a read-only member")"
        case .remove(let id): "remove \(id)"
        case .promote(let id): "promote \(id)"
        case .demote(let id): "demote \(id)"
        }
    }
}
