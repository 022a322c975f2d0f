import Foundation
import GRPCCore
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import SwiftProtobuf
import Testing

@Suite("Message ⇄ protobuf conversion")
struct ProtoConversionTests {
    static let configuration = ClusterConfiguration(
        voters: [1, 2, 3], learners: [7], addresses: [1: "127.0.0.1:7001", 7: "[::1]:7007"], incarnations: [1: 5, 3: UInt64.max, 7: 1])

    static let bodies: [RaftCore.Message.Body] = [
        .preVote(VoteRequest(lastLogIndex: 10, lastLogTerm: 3)),
        .preVote(VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isTransfer: true)),
        .preVoteResponse(granted: true),
        .preVoteResponse(granted: false),
        .vote(VoteRequest(lastLogIndex: .max, lastLogTerm: 9, isTransfer: true)),
        .voteResponse(granted: true),
        .voteResponse(granted: false),
        .append(AppendRequest(prevLogIndex: 4, prevLogTerm: 2, entries: [], commit: 3)),
        .append(
            AppendRequest(
                prevLogIndex: 4, prevLogTerm: 2,
                entries: [
                    Entry(term: 3, index: 5, payload: .command(Array("set x=1".utf8))),
                    Entry(term: 3, index: 6, payload: .command([])),
                    Entry(term: 3, index: 7, payload: .noop),
                    Entry(term: 3, index: 8, payload: .configuration(configuration)),
                    Entry(term: 3, index: 9, payload: .command([UInt8](repeating: 0xFF, count: 4096))),
                ], commit: 6)),
        .appendResponse(AppendResponse(index: 9)),
        .appendResponse(AppendResponse(index: 9, rejected: true, hintIndex: 4, hintTerm: 2)),
        .heartbeat(Heartbeat(commit: 8, round: 77, sentTick: 1234)),
        .heartbeatResponse(HeartbeatResponse(round: 77, sentTick: 1234)),
        .installSnapshot(SnapshotMetadata(index: 100, term: 5, configuration: configuration)),
        .installSnapshot(SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration())),
        .timeoutNow,
        .readIndex(context: 42),
        .readIndexResponse(context: 42, index: 99),
        .forwardedProposals(ForwardedProposals(context: 7, commands: [[1, 2, 3], [], [UInt8](repeating: 0xAB, count: 4096)])),
        .forwardedProposals(ForwardedProposals(context: 8, commands: [])),
        .forwardedProposalsResponse(ForwardedProposalsResponse(context: 7, firstIndex: 41, term: 3, accepted: 3, refusal: nil)),
        .forwardedProposalsResponse(ForwardedProposalsResponse(context: 9, firstIndex: 41, term: 3, accepted: 1, refusal: .overloaded)),
        .forwardedProposalsResponse(ForwardedProposalsResponse(context: 9, firstIndex: 0, term: 3, accepted: 0, refusal: .notLeader)),
        .forwardedProposalsResponse(ForwardedProposalsResponse(context: 9, firstIndex: 0, term: 3, accepted: 0, refusal: .rejected)),
    ]

    @Test("Every body kind survives Message → proto → bytes → proto → Message")
    func roundTrip() throws {
        for (i, body) in Self.bodies.enumerated() {
            let message = RaftCore.Message(from: UInt64(i + 1), to: 99, term: UInt64(i * 7), body: body)
            let proto = Rafty_V1_RaftMessage(message)
            let bytes: [UInt8] = try proto.serializedBytes()
            let decoded = try Rafty_V1_RaftMessage(serializedBytes: bytes)
            #expect(try RaftCore.Message(decoded) == message, "body \(i): \(body)")
        }
    }

    @Test("Every case of Message.Body is covered by the round-trip list")
    func coverage() {
        var kinds: Set<String> = []
        for body in Self.bodies {
            let name = "\(body)"
            kinds.insert(String(name.prefix { $0 != "(" }))
        }
        #expect(kinds.count == 14, "\(kinds.sorted())")
    }

    @Test("Malformed messages are rejected with an error, not a crash")
    func malformed() throws {
        #expect(throws: MalformedMessage.self) { try RaftCore.Message(Rafty_V1_RaftMessage()) }
        var proto = Rafty_V1_RaftMessage()
        proto.append = .with { $0.entries = [Rafty_V1_Entry()] }
        #expect(throws: MalformedMessage.self) { try RaftCore.Message(proto) }
        #expect(throws: MalformedMessage.self) { try ForwardedRequest(Rafty_V1_ForwardRequest()) }
        for refusal: UInt32 in [4, 256, .max] {
            var response = Rafty_V1_RaftMessage()
            response.forwardedProposalsResponse = .with { $0.refusal = refusal }
            #expect(throws: MalformedMessage.self) { try RaftCore.Message(response) }
        }
        // Garbage bytes fail in the decoder.
        #expect(throws: (any Error).self) { try Rafty_V1_RaftMessage(serializedBytes: [0xFF, 0xFF, 0xFF, 0x0F]) }
    }

    @Test("Forwarded requests round-trip with their timeout")
    func forwarded() throws {
        let requests: [ForwardedRequest] = [
            .submit(Array("a=1".utf8)), .read(Array("a".utf8)), .submit([]), .transferLeadership(to: nil), .transferLeadership(to: 3),
            .membership(.add(id: 4, address: "10.0.0.4:7000", asVoter: false)), .membership(.remove(id: 2)), .membership(.promote(id: 4)),
            .membership(.demote(id: 5)),
        ]
        for request in requests {
            let proto = Rafty_V1_ForwardRequest(request, timeout: .milliseconds(1500))
            #expect(proto.timeoutMicros == 1_500_000)
            #expect(try ForwardedRequest(proto) == request)
        }
    }

    @Test("Forwarded answers are typed on the wire: results (empty ones too), leaders, configuration indexes and redirects round-trip")
    func forwardedAnswers() throws {
        let answers: [ForwardedAnswer] = [
            .result([1, 2]), .result([]), .leader(3), .configurationIndex(0), .configurationIndex(41), .redirect(to: "[::1]:7000"),
        ]
        for answer in answers {
            let bytes: [UInt8] = try Rafty_V1_ForwardResponse(answer).serializedBytes()
            #expect(try ForwardedAnswer(Rafty_V1_ForwardResponse(serializedBytes: bytes)) == answer)
        }
        #expect(throws: MalformedMessage.self) { try ForwardedAnswer(Rafty_V1_ForwardResponse()) }
        #expect(throws: MalformedMessage.self) { try ForwardedAnswer(.with { $0.leader = 0 }) }
        #expect(throws: MalformedMessage.self) { try ForwardedAnswer(.with { $0.redirect = "" }) }
    }

    @Test("RaftError ⇄ RPCError keeps every code (state-machine failures and overload too) and the leader")
    func errorMapping() {
        // A forwarding follower must tell "not applied" (overloaded, stateMachine) from "unknown".
        #expect(RaftError.Code.all.count == 13 && RaftError.Code.all.contains(.stateMachine) && RaftError.Code.all.contains(.overloaded))
        #expect(RaftErrorMapping.statusCode(for: .overloaded) == .resourceExhausted)
        for code in RaftError.Code.all {
            let error = RaftError(code, "boom", leader: code == .notLeader ? 3 : nil)
            let rpc = RaftErrorMapping.rpcError(error)
            let back = RaftErrorMapping.raftError(rpc, address: "x")
            #expect(back.code == code)
            #expect(back.message == "boom")
            #expect(back.leader == error.leader)
        }
        #expect(RaftErrorMapping.raftError(RPCError(code: .unavailable, message: "down"), address: "x").code == .unreachable)
        #expect(RaftErrorMapping.raftError(RPCError(code: .deadlineExceeded, message: "slow"), address: "x").code == .timedOut)
    }
}
