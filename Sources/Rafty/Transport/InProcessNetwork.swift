public import RaftCore
private import Synchronization

/// A ``RaftTransport`` inside one process: nodes registered under an address reach each other
/// directly. For tests and examples; addresses can be cut off to simulate partitions.
public final class InProcessNetwork: RaftTransport {
    private struct State {
        var handlers: [String: any RaftTransportHandler] = [:]
        var isolated: Set<String> = []
    }

    private let state = Mutex(State())

    /// Creates an empty network.
    public init() {}

    /// Registers a node at `address` until the calling task is cancelled.
    public func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try self.state.withLock { state throws(RaftError) in
            guard state.handlers[address] == nil else {
                throw RaftError(.invalidConfiguration, "address \(address) is already in use")
            }
            state.handlers[address] = handler
        }
        defer { _ = self.state.withLock { $0.handlers.removeValue(forKey: address) } }
        // Wait for cancellation without polling.
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        await withTaskCancellationHandler {
            for await _ in stream {}
        } onCancel: {
            continuation.finish()
        }
    }

    /// Cuts `address` off from everyone (messages and calls to and from it fail) or reconnects it.
    public func setIsolated(_ address: String, _ isolated: Bool) {
        self.state.withLock { state in
            if isolated { state.isolated.insert(address) } else { state.isolated.remove(address) }
        }
    }

    private func handler(for address: String) -> (any RaftTransportHandler)? {
        self.state.withLock { state in state.isolated.contains(address) ? nil : state.handlers[address] }
    }

    /// Delivers a message (dropped if either side is isolated or unknown, or if the receiver does
    /// not admit the sender's credentials, as the gRPC transport's peer service does).
    public func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        let route = self.state.withLock { state -> (receiver: any RaftTransportHandler, sender: (any RaftTransportHandler)?)? in
            let sender = state.handlers.first { $0.value.nodeID == message.from }
            guard let receiver = state.handlers[address], !state.isolated.contains(address),
                !(sender.map { state.isolated.contains($0.key) } ?? false)
            else { return nil }
            return (receiver, sender?.value)
        }
        guard let route else { return }
        let credentials = route.sender?.peerCredentials ?? .none
        guard route.receiver.admit(message.from, presenting: credentials) == nil else { return }
        await route.receiver.receive(message, snapshot: snapshot)
    }

    /// The id of the node at `address`.
    public func askNodeID(at address: String) async throws(RaftError) -> PeerInfo {
        guard let handler = self.handler(for: address) else {
            throw RaftError(.unreachable, "no node answers at \(address)")
        }
        return handler.peerInfo
    }

    /// The leader the node at `address` knows of.
    public func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? {
        guard let handler = self.handler(for: address) else {
            throw RaftError(.unreachable, "no node answers at \(address)")
        }
        return handler.knownLeader
    }

    /// The committed membership the node at `address` knows.
    public func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? {
        guard let handler = self.handler(for: address) else {
            throw RaftError(.unreachable, "no node answers at \(address)")
        }
        return handler.committedMembership
    }

    /// Forwards a request to the node at `address`.
    public func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        guard let handler = self.handler(for: address) else {
            throw RaftError(.unreachable, "no node answers at \(address)")
        }
        return try await handler.handleForwarded(request, timeout: timeout)
    }
}
