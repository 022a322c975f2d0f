public import RaftCore

/// What the leader answers to a ``ForwardedRequest``.
public enum ForwardedAnswer: Sendable, Hashable {
    /// The state machine's result of a forwarded ``ForwardedRequest/submit(_:)`` or
    /// ``ForwardedRequest/read(_:)``.
    case result([UInt8])
    /// The voter that took over after a ``ForwardedRequest/transferLeadership(to:)``.
    case leader(NodeID)
    /// The index of the last configuration entry of a ``ForwardedRequest/membership(_:)`` change,
    /// once it committed.
    case configurationIndex(UInt64)
    /// A membership change of the leader itself handed leadership over first; send the change
    /// again to the new leader at this address.
    case redirect(to: String)

    /// A short description for errors about an answer that does not fit its request.
    var kind: String {
        switch self {
        case .result: "a result"
        case .leader: "a leader id"
        case .configurationIndex: "a configuration index"
        case .redirect: "a redirect"
        }
    }
}
