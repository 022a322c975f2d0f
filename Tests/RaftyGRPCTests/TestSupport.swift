import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback port that was free a moment ago and that no other test of this process got.
func freePort() -> Int { LoopbackPorts.next() }

/// Serves `handler` with a `GRPCTransport` on a free loopback port for the duration of `body`,
/// which gets the address and a client transport (closed afterwards).
func withServedHandler(
    _ handler: some RaftTransportHandler, configuration: GRPCTransport.Configuration = .init(),
    _ body: (String, GRPCTransport) async throws -> Void
) async throws {
    let address = "127.0.0.1:\(freePort())"
    let server = GRPCTransport(configuration: configuration)
    let client = GRPCTransport(configuration: configuration)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(handler, at: address) }
        try await eventually("the server answers") { (try? await client.askNodeID(at: address)) != nil }
        try await body(address, client)
        group.cancelAll()
    }
    client.close()
}
