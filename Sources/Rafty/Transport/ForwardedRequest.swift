public import RaftCore

/// A request forwarded from a follower to the leader.
public enum ForwardedRequest: Sendable, Hashable {
    /// Submit a command; the answer is ``ForwardedAnswer/result(_:)``, the state machine's result.
    case submit([UInt8])
    /// A linearizable read; the answer is ``ForwardedAnswer/result(_:)``, the query's result.
    case read([UInt8])
    /// Hand leadership to the voter `to` (nil: the most up-to-date one); the answer is
    /// ``ForwardedAnswer/leader(_:)``.
    case transferLeadership(to: NodeID?)
    /// A membership change; the answer is ``ForwardedAnswer/configurationIndex(_:)``, or
    /// ``ForwardedAnswer/redirect(to:)`` when the change removed or demoted the leader itself.
    case membership(MembershipChange)
}

extension ForwardedRequest {
    /// A short description for errors about the answer to this request.
    var kind: String {
        switch self {
        case .submit: "command"
        case .read: "read"
        case .transferLeadership: "leadership transfer"
        case .membership: "membership change"
        }
    }
}
