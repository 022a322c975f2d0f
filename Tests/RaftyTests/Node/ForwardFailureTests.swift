import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Testing

/// Delivers forwards, then reports the connection as failed — as a dropped gRPC call would; loses
/// every leader's answer to forwarded commands — as a dropped peer stream would.
struct LossyForwardTransport: RaftTransport {
    let inner: InProcessNetwork

    func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try await self.inner.serve(handler, at: address)
    }
    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        if case .forwardedProposalsResponse = message.body { return }
        await self.inner.send(message, snapshot: snapshot, to: address)
    }
    func askNodeID(at address: String) async throws(RaftError) -> PeerInfo { try await self.inner.askNodeID(at: address) }
    func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? {
        try await self.inner.leader(at: address)
    }
    func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        _ = try await self.inner.forward(request, to: address, timeout: timeout)
        throw RaftError(.unreachable, "connection reset by peer")
    }
}

@Suite("Forwarding failures", .timeLimit(.minutes(1)))
struct ForwardFailureTests {
    @Test("A forwarded command whose answer from the leader is lost is reported as outcome unknown (timedOut), never as not applied")
    func lostForwardIsUnknown() async throws {
        let cluster = TestCluster(size: 3)
        let transport = LossyForwardTransport(inner: cluster.inProcessNetwork)
        try await cluster.run {
            for id in UInt64(1)...3 {
                try cluster.start(id, wrapTransport: { _ in transport })
            }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            try await eventually("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }
            do {
                _ = try await cluster.node(follower).submitCommand(Array("k=v".utf8))
                Issue.record("the transport always fails forwards")
            } catch let error as RaftError {
                #expect(error.code == .timedOut, "unreachable would promise the command was not applied")
            }
            // It was applied: the unknown outcome was the only truthful answer.
            try await eventually("the command was applied") { cluster.stateMachine(leader).appliedCommands == ["k=v"] }
        }
    }
}
