import Testing

@testable import RaftyGRPC

/// Closed peer connections are kept for `shutdown()` only while their tasks run.
@Suite("Retired peer connections")
struct RetiredPeerTests {
    @Test("A disconnected peer is forgotten once its tasks ended; shutdown waits for the rest")
    func retiredPeersAreForgotten() async throws {
        let transport = GRPCTransport()
        let first = "127.0.0.1:\(freePort())"
        let second = "127.0.0.1:\(freePort())"
        // Each call opens a connection to the address (nothing listens there).
        _ = try? await transport.askNodeID(at: first)
        _ = try? await transport.askNodeID(at: second)
        transport.disconnect(from: first)
        #expect(transport.retiredPeers.count == 1)
        for peer in transport.retiredPeers { await peer.finished() }
        // Retiring the second peer forgets the first, whose tasks ended.
        transport.disconnect(from: second)
        #expect(transport.retiredPeers.map(\.address) == [second])
        await transport.shutdown()
        #expect(transport.retiredPeers.isEmpty)
    }
}
