public import RaftCore
public import Rafty

/// A test transport around another: what it does not override passes through.
public protocol WrappingTransport: RaftTransport {
    /// The transport it wraps.
    var inner: any RaftTransport { get }
}

extension WrappingTransport {
    /// Serves through the wrapped transport.
    public func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try await self.inner.serve(handler, at: address)
    }

    /// Asks through the wrapped transport.
    public func askNodeID(at address: String) async throws(RaftError) -> PeerInfo {
        try await self.inner.askNodeID(at: address)
    }

    /// Forwards through the wrapped transport.
    public func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        try await self.inner.forward(request, to: address, timeout: timeout)
    }

    /// Asks through the wrapped transport.
    public func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? {
        try await self.inner.leader(at: address)
    }
}
