public import RaftCore

extension RaftNode {
    /// A change a node announces on ``events()``.
    public enum NodeEvent: Sendable, Hashable {
        /// The node's state changed (follower, candidate, leader, read-only, down).
        case stateChanged(Status.State, term: UInt64)
        /// The node learned of a new leader (or lost track of it: nil).
        case leaderChanged(NodeID?, term: UInt64)
        /// The node applied the log up to `index` to its state machine (once per batch it
        /// applied, not per entry; a restored snapshot counts).
        case applied(index: UInt64)
    }

    /// A new stream of this node's state, leader and apply progress, from now on. Each call makes an
    /// independent subscriber; the stream finishes when the node stops.
    public func events() -> AsyncStream<NodeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: NodeEvent.self, bufferingPolicy: .bufferingNewest(256))
        self.subscribe(continuation)
        return stream
    }
}
