import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import SwiftProtobuf
import Synchronization
import Testing

/// A handler that records what arrives and answers forwarded requests with a fixed outcome.
final class StubHandler: RaftTransportHandler {
    let nodeID: NodeID = 7
    var peerInfo: PeerInfo { PeerInfo(id: 7, isVoter: false) }
    private let received = Mutex<[(RaftCore.Message, Int?)]>([])
    let outcome: Result<[UInt8], RaftError>

    init(outcome: Result<[UInt8], RaftError>) { self.outcome = outcome }

    var messages: [(RaftCore.Message, Int?)] { self.received.withLock { $0 } }

    func receive(_ message: RaftCore.Message, snapshot: [UInt8]?) async {
        self.received.withLock { $0.append((message, snapshot?.count)) }
    }

    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        .result(try self.outcome.get())
    }
}

@Suite("GRPCTransport against a stub node", .serialized, .timeLimit(.minutes(1)))
struct GRPCTransportTests {
    func withServer(_ handler: StubHandler, _ body: (String, GRPCTransport) async throws -> Void) async throws {
        try await withServedHandler(handler, body)
    }

    @Test("AskNodeID, Health and messages over the Exchange stream")
    func basics() async throws {
        let handler = StubHandler(outcome: .success([1, 2, 3]))
        try await self.withServer(handler) { address, client in
            #expect(try await client.askNodeID(at: address) == PeerInfo(id: 7, isVoter: false))
            #expect(try await client.health(at: address).state == "serving")
            for i in 0..<100 {
                await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: UInt64(i))), snapshot: nil, to: address)
            }
            try await eventually("100 messages arrived in order") {
                handler.messages.map(\.0.body) == (0..<100).map { .readIndex(context: UInt64($0)) }
            }
            #expect(try await client.forward(.submit([9]), to: address, timeout: .seconds(1)) == .result([1, 2, 3]))
        }
    }

    @Test("With flush coalescing on (flushDelay), messages and answers arrive as without")
    func flushDelay() async throws {
        let handler = StubHandler(outcome: .success([4]))
        var configuration = GRPCTransport.Configuration()
        configuration.flushDelay = .microseconds(100)
        try await withServedHandler(handler, configuration: configuration) { address, client in
            for i in 0..<100 {
                await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: UInt64(i))), snapshot: nil, to: address)
            }
            try await eventually("100 messages arrived in order") {
                handler.messages.map(\.0.body) == (0..<100).map { .readIndex(context: UInt64($0)) }
            }
            #expect(try await client.forward(.submit([9]), to: address, timeout: .seconds(1)) == .result([4]))
        }
    }

    @Test("Forward carries the leader's RaftError code and leader back to the follower")
    func forwardErrors() async throws {
        let handler = StubHandler(outcome: .failure(RaftError(.notLeader, "not me", leader: 2)))
        try await self.withServer(handler) { address, client in
            do {
                _ = try await client.forward(.read([1]), to: address, timeout: .seconds(1))
                Issue.record("expected an error")
            } catch let error as RaftError {
                #expect(error.code == .notLeader)
                #expect(error.leader == 2)
                #expect(error.message == "not me")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test("An unreachable peer fails fast with .unreachable")
    func unreachable() async throws {
        let client = GRPCTransport()
        let started = ContinuousClock.now
        do {
            _ = try await client.askNodeID(at: "127.0.0.1:\(freePort())")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unreachable || error.code == .timedOut)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        client.close()
    }

    @Test("serve throws when the address is already in use")
    func addressInUse() async throws {
        let handler = StubHandler(outcome: .success([]))
        try await self.withServer(handler) { address, _ in
            do {
                try await GRPCTransport().serve(handler, at: address)
                Issue.record("serve returned on a taken port")
            } catch let error as RaftError {
                #expect(error.message.contains("cannot listen on \(address)") && error.message.contains("in use"), "\(error)")
            }
        }
    }

    @Test("After serve returns, the transport is closed: sends are dropped, calls fail with shuttingDown")
    func closedAfterServe() async throws {
        let handler = StubHandler(outcome: .success([]))
        let transport = GRPCTransport()
        let address = "127.0.0.1:\(freePort())"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await transport.serve(handler, at: address) }
            try await eventually("the server answers") { (try? await transport.askNodeID(at: address)) != nil }
            group.cancelAll()
        }
        do {
            _ = try await transport.askNodeID(at: address)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .shuttingDown)
        }
    }

    @Test("A snapshot of 3.5 MiB arrives in chunks, reassembled and intact")
    func snapshotChunks() async throws {
        let handler = StubHandler(outcome: .success([]))
        try await self.withServer(handler) { address, client in
            let bytes = (0..<(3 << 20) + 512 << 10).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let metadata = SnapshotMetadata(index: 10, term: 2, configuration: ClusterConfiguration(voters: [1, 7]))
            await client.send(RaftCore.Message(from: 1, to: 7, term: 2, body: .installSnapshot(metadata)), snapshot: bytes, to: address)
            try await eventually("the snapshot arrived") { handler.messages.contains { $0.1 == bytes.count } }
        }
    }

    @Test("Malformed requests get a gRPC error status, and the server keeps serving")
    func malformed() async throws {
        let handler = StubHandler(outcome: .success([]))
        try await self.withServer(handler) { address, transport in
            let port = Int(address.split(separator: ":")[1])!
            try await withGRPCClient(
                transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { grpcClient throws in
                let client = Rafty_V1_RaftPeer.Client(wrapping: grpcClient)
                var options = CallOptions.defaults
                options.timeout = .seconds(5)
                await #expect { _ = try await client.forward(Rafty_V1_ForwardRequest(), options: options) } throws: { error in
                    (error as? RPCError)?.code == .invalidArgument
                }
                await #expect {
                    try await client.exchange(options: options) { writer in
                        try await writer.write(Rafty_V1_RaftMessage())
                    } onResponse: { response in
                        for try await _ in response.messages {}
                    }
                } throws: { error in
                    (error as? RPCError)?.code == .invalidArgument
                }
                await #expect {
                    _ = try await client.installSnapshot(options: options) { writer in
                        try await writer.write(.with { $0.data = Data([1, 2, 3]) })
                    }
                } throws: { error in
                    (error as? RPCError)?.code == .invalidArgument
                }
                await #expect {
                    _ = try await client.installSnapshot(options: options) { writer in
                        try await writer.write(
                            .with {
                                $0.message = Rafty_V1_RaftMessage(
                                    RaftCore.Message(
                                        from: 1, to: 7, term: 1,
                                        body: .installSnapshot(
                                            SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration()))))
                                $0.totalSize = 3
                                $0.data = Data([1, 2, 3])
                                $0.last = true
                                $0.crc32C = 12345
                            })
                    }
                } throws: { error in
                    (error as? RPCError)?.code == .dataLoss
                }
                // Still serving.
                let id = try await client.askNodeID(.init(), options: options).id
                #expect(id == 7)
                grpcClient.beginGracefulShutdown()
            }
            #expect(handler.messages.isEmpty)
            _ = transport
        }
    }
}
