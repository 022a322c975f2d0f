import Foundation
import Logging
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Testing

/// Files of a development CA and node certificates in a temporary directory.
struct TestCertificates {
    let directory = TemporaryDirectory("rafty-certs")
    let authority: DevelopmentCertificates

    init() throws {
        self.authority = try DevelopmentCertificates()
        try Self.write(try self.authority.certificatePEM, to: "\(self.directory.path)/ca.pem")
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Writes node `id`'s certificate and key (signed by `authority`, this CA by default).
    func tls(for id: NodeID, signedBy other: DevelopmentCertificates? = nil, name: String? = nil) throws -> PeerTLS {
        let base = "\(self.directory.path)/\(name ?? "node-\(id)")"
        let issued = try (other ?? self.authority).issue(nodeID: id)
        try Self.write(issued.certificate, to: "\(base).pem")
        try Self.write(issued.key, to: "\(base)-key.pem")
        return PeerTLS(certificateChainFile: "\(base).pem", privateKeyFile: "\(base)-key.pem", trustedCAFile: "\(self.directory.path)/ca.pem")
    }

    func transport(for id: NodeID, logger: Logger? = nil) throws -> GRPCTransport {
        var configuration = GRPCTransport.Configuration()
        configuration.tls = try self.tls(for: id)
        if let logger { configuration.logger = logger }
        return GRPCTransport(configuration: configuration)
    }
}

@Suite("Peer mutual TLS and node identity", .serialized, .timeLimit(.minutes(2)))
struct PeerTLSTests {
    @Test("Over mutual TLS a node accepts a message only from the node its sender's certificate names; the others are dropped")
    func spoofedSenderDropped() async throws {
        let certificates = try TestCertificates()
        let handler = StubHandler(outcome: .success([1]))
        let address = "127.0.0.1:\(freePort())"
        let serverLog = CapturingLogHandler.Store()
        let clientLog = CapturingLogHandler.Store()
        let server = try certificates.transport(for: 7, logger: CapturingLogHandler.logger(serverLog))
        let client = try certificates.transport(for: 1, logger: CapturingLogHandler.logger(clientLog))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(handler, at: address) }
            try await eventually("the server answers over TLS") { (try? await client.askNodeID(at: address)) != nil }
            await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 1)), snapshot: nil, to: address)
            await client.send(RaftCore.Message(from: 2, to: 7, term: 9, body: .readIndex(context: 2)), snapshot: nil, to: address)
            await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 3)), snapshot: nil, to: address)
            try await eventually("the last message arrived") { handler.messages.count >= 2 }
            #expect(handler.messages.map(\.0.from) == [1, 1])
            #expect(handler.messages.map(\.0.body) == [.readIndex(context: 1), .readIndex(context: 3)])
            #expect(try await client.forward(.submit([9]), to: address, timeout: .seconds(1)) == .result([1]))
            #expect(serverLog.contains("dropped a message from node 2 sent with node 1's certificate", level: .warning))
            #expect(clientLog.contains("peer stream open", level: .info))
            group.cancelAll()
        }
        // The server stopped: the client's stream breaks, and the operator hears of it once.
        await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 4)), snapshot: nil, to: address)
        try await eventually("the client logs the lost stream") { clientLog.contains("peer stream lost", level: .warning) }
        client.close()
    }

    @Test("A plaintext client and a client whose certificate another CA signed cannot reach a TLS node")
    func strangersRefused() async throws {
        let certificates = try TestCertificates()
        let handler = StubHandler(outcome: .success([1]))
        let address = "127.0.0.1:\(freePort())"
        let server = try certificates.transport(for: 7)
        let member = try certificates.transport(for: 1)
        var foreignConfiguration = GRPCTransport.Configuration()
        foreignConfiguration.tls = try certificates.tls(for: 1, signedBy: try DevelopmentCertificates(name: "another CA"), name: "foreign")
        let foreign = GRPCTransport(configuration: foreignConfiguration)
        let plaintext = GRPCTransport()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(handler, at: address) }
            try await eventually("the server answers a member") { (try? await member.askNodeID(at: address)) != nil }
            await #expect(throws: RaftError.self) { try await plaintext.askNodeID(at: address) }
            await #expect(throws: RaftError.self) { try await foreign.askNodeID(at: address) }
            await #expect(throws: RaftError.self) { try await foreign.forward(.submit([9]), to: address, timeout: .seconds(1)) }
            await foreign.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 1)), snapshot: nil, to: address)
            await plaintext.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 2)), snapshot: nil, to: address)
            await member.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 3)), snapshot: nil, to: address)
            try await eventually("the member's message arrived") { !handler.messages.isEmpty }
            #expect(handler.messages.map(\.0.body) == [.readIndex(context: 3)])
            group.cancelAll()
        }
        for transport in [member, foreign, plaintext] { transport.close() }
    }

    @Test("A client sends a node's messages only to a server whose certificate names that node, and trusts no server of another CA")
    func serverIdentityChecked() async throws {
        let certificates = try TestCertificates()
        let handler = StubHandler(outcome: .success([1]))
        let address = "127.0.0.1:\(freePort())"
        let server = try certificates.transport(for: 7)
        let client = try certificates.transport(for: 1)
        var foreignConfiguration = GRPCTransport.Configuration()
        foreignConfiguration.tls = try certificates.tls(for: 9, signedBy: try DevelopmentCertificates(name: "another CA"), name: "foreign")
        let foreignServer = GRPCTransport(configuration: foreignConfiguration)
        let foreignAddress = "127.0.0.1:\(freePort())"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(handler, at: address) }
            group.addTask { try await foreignServer.serve(StubHandler(outcome: .success([2])), at: foreignAddress) }
            try await eventually("the server answers over TLS") { (try? await client.askNodeID(at: address)) != nil }
            // Node 7 answers at this address: node 8's messages must not reach it.
            await client.send(RaftCore.Message(from: 1, to: 8, term: 1, body: .readIndex(context: 1)), snapshot: nil, to: address)
            await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 2)), snapshot: nil, to: address)
            try await eventually("node 7's message arrived") { !handler.messages.isEmpty }
            #expect(handler.messages.map(\.0.body) == [.readIndex(context: 2)])
            await client.send(RaftCore.Message(from: 1, to: 8, term: 1, body: .readIndex(context: 3)), snapshot: nil, to: address)
            await client.send(RaftCore.Message(from: 1, to: 7, term: 1, body: .readIndex(context: 4)), snapshot: nil, to: address)
            try await eventually("node 7's second message arrived") { handler.messages.count >= 2 }
            #expect(handler.messages.map(\.0.body) == [.readIndex(context: 2), .readIndex(context: 4)])
            // A server whose certificate another CA signed is not trusted, whatever node it names.
            await #expect(throws: RaftError.self) { try await client.askNodeID(at: foreignAddress) }
            await #expect(throws: RaftError.self) { try await client.forward(.submit([9]), to: foreignAddress, timeout: .seconds(1)) }
            group.cancelAll()
        }
        for transport in [client, server, foreignServer] { transport.close() }
    }

    @Test("A node refuses to serve with another node's certificate, or with a certificate that names no node")
    func wrongCertificateRefused() async throws {
        let certificates = try TestCertificates()
        let handler = StubHandler(outcome: .success([1]))
        var configuration = GRPCTransport.Configuration()
        configuration.tls = try certificates.tls(for: 1)
        await #expect(throws: RaftError.self) { try await GRPCTransport(configuration: configuration).serve(handler, at: "127.0.0.1:\(freePort())") }
        let client = try certificates.authority.issue(clientName: "a client")
        try TestCertificates.write(client.certificate, to: "\(certificates.directory.path)/client.pem")
        try TestCertificates.write(client.key, to: "\(certificates.directory.path)/client-key.pem")
        let unnamed = PeerTLS(
            certificateChainFile: "\(certificates.directory.path)/client.pem", privateKeyFile: "\(certificates.directory.path)/client-key.pem",
            trustedCAFile: "\(certificates.directory.path)/ca.pem")
        #expect(throws: RaftError.self) { try unnamed.nodeID() }
        let missing = PeerTLS(certificateChainFile: "/nonexistent.pem", privateKeyFile: "/nonexistent.pem", trustedCAFile: "/nonexistent.pem")
        #expect(throws: RaftError.self) { try missing.nodeID() }
    }

    @Test("Three nodes over mutual TLS elect a leader and replicate from any node")
    func clusterOverTLS() async throws {
        let certificates = try TestCertificates()
        let transports: @Sendable (NodeID) throws -> GRPCTransport.Configuration = { id in
            var configuration = GRPCTransport.Configuration()
            configuration.tls = try certificates.tls(for: id)
            return configuration
        }
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine() }
        try await LocalCluster.with(size: 3, transport: .grpc, grpcConfiguration: transports, stateMachine: machines) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            let follower = cluster.ids.first { $0 != leader }!
            _ = try await cluster.node(leader).submitCommand(Array("a=1".utf8))
            _ = try await cluster.node(follower).submitCommand(Array("b=2".utf8))
            try await cluster.waitUntil("every node applied both commands") {
                cluster.ids.allSatisfy { cluster.stateMachine($0).appliedCommands == ["a=1", "b=2"] }
            }
        }
    }
}
