import Foundation
import RaftCore
import Rafty
import RaftyGRPC
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

/// Throughput of submitCommand on a 3-node loopback cluster. Opt-in (slow, and meaningful only in
/// release builds): `RAFTY_GRPC_BENCH=1 swift test -c release --filter RaftyGRPCTests.GRPCThroughputTests`.
@Suite("Throughput over loopback gRPC", .serialized)
struct GRPCThroughputTests {
    static let enabled = ProcessInfo.processInfo.environment["RAFTY_GRPC_BENCH"] == "1"

    @Test("submitCommand: sequential and 64 concurrent clients on the leader", .enabled(if: enabled))
    func throughput() async throws {
        let machines: @Sendable (NodeID) -> RecordingStateMachine = { _ in RecordingStateMachine() }
        try await LocalCluster.with(size: 3, transport: .grpc, stateMachine: machines) { cluster in
            try cluster.startAll()
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let value = String(repeating: "x", count: 100)
            for i in 0..<200 { _ = try await cluster.node(leader).submitCommand(Array("warm\(i)=\(value)".utf8)) }
            try await cluster.waitUntil("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }

            for (clients, on) in [(1, "leader"), (8, "leader"), (64, "leader"), (1, "follower"), (64, "follower")] {
                let node = cluster.node(on == "leader" ? leader : follower)
                let total = clients == 1 ? 2_000 : 20_000
                let perClient = total / clients
                let started = ContinuousClock.now
                let latencies = try await withThrowingTaskGroup(of: [Duration].self) { tasks in
                    for c in 0..<clients {
                        tasks.addTask {
                            var latencies: [Duration] = []
                            latencies.reserveCapacity(perClient)
                            for i in 0..<perClient {
                                let t0 = ContinuousClock.now
                                _ = try await node.submitCommand(Array("c\(c)-\(i)=\(value)".utf8), timeout: .seconds(30))
                                latencies.append(ContinuousClock.now - t0)
                            }
                            return latencies
                        }
                    }
                    var all: [Duration] = []
                    for try await part in tasks { all += part }
                    return all.sorted()
                }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                func ms(_ q: Double) -> String {
                    let d = latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))]
                    let v = Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
                    return String(format: "%.2f", v)
                }
                print(
                    "BENCH on=\(on) clients=\(clients) commands=\(latencies.count) "
                        + String(format: "throughput=%.0f/s", Double(latencies.count) / seconds)
                        + " p50=\(ms(0.5))ms p90=\(ms(0.9))ms p99=\(ms(0.99))ms max=\(ms(1.0))ms")
            }
        }
    }
}

/// Counts what arrives.
final class CountingHandler: RaftTransportHandler {
    let nodeID: NodeID = 9
    var peerInfo: PeerInfo { PeerInfo(id: 9, isVoter: true) }
    private let count = Mutex(0)
    var received: Int { self.count.withLock { $0 } }

    func receive(_ message: RaftCore.Message, snapshot: [UInt8]?) async { self.count.withLock { $0 += 1 } }

    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer { .result([]) }
}

extension GRPCThroughputTests {
    @Test("Exchange stream: messages per second, one peer", .enabled(if: enabled))
    func streamRate() async throws {
        let handler = CountingHandler()
        let server = GRPCTransport()
        let client = GRPCTransport()
        let address = "127.0.0.1:\(freePort())"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(handler, at: address) }
            try await eventually("the server answers") { (try? await client.askNodeID(at: address)) != nil }
            for (label, body) in [
                ("heartbeat", RaftCore.Message.Body.heartbeat(Heartbeat(commit: 1, round: 2, sentTick: 3))),
                (
                    "append 64x100B",
                    .append(
                        AppendRequest(
                            prevLogIndex: 1, prevLogTerm: 1,
                            entries: (2..<66).map { Entry(term: 1, index: UInt64($0), payload: .command([UInt8](repeating: 7, count: 100))) },
                            commit: 1))
                ),
            ] {
                let before = handler.received
                let count = 100_000
                let started = ContinuousClock.now
                for i in 0..<count {
                    await client.send(RaftCore.Message(from: 1, to: 9, term: 1, body: body), snapshot: nil, to: address)
                    // Stay below the outbound queue limit (4096): yield to let the stream drain.
                    if i % 1024 == 1023 {
                        try await eventually("drained") { handler.received - before >= i - 1024 }
                    }
                }
                try await eventually("all arrived", timeout: .seconds(120)) { handler.received - before >= count }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                print(String(format: "BENCH stream %@: %.0f messages/s, %.1f µs per message", label, Double(count) / seconds, seconds / Double(count) * 1e6))
            }
            group.cancelAll()
        }
        client.close()
    }
}
