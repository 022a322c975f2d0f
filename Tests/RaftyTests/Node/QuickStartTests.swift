import Rafty
import RaftyTestSupport
import Synchronization
import Testing

// The README's library quick start, compiled and run: keep the two in sync.

// snippet.quickstart
/// A replicated counter: every command adds its byte value; queries read the total.
final class Counter: StateMachine {
    private let total = Mutex(0)

    func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        self.total.withLock { total in
            commands.map { command in
                total += Int(command.bytes.first ?? 0)
                return Array(String(total).utf8)
            }
        }
    }

    func query(_ request: [UInt8]) async throws -> [UInt8] { Array(String(self.total.withLock { $0 }).utf8) }
    func snapshot(to output: SnapshotOutput) async throws {
        try output.write(Array(String(self.total.withLock { $0 }).utf8))
    }
    func restore(from input: SnapshotInput) async throws {
        let bytes = try input.readAll()
        self.total.withLock { $0 = Int(String(decoding: bytes, as: UTF8.self)) ?? 0 }
    }
}

func runCounterNode(transport: any RaftTransport) async throws -> String {
    var configuration = RaftNode.Configuration(id: 1)
    configuration.address = "127.0.0.1:7001"
    configuration.minimumClusterSize = 1  // a single-server cluster; list `peers` for more
    configuration.persistDataOnDisk = false
    let node = try RaftNode(configuration: configuration, stateMachine: Counter(), transport: transport)
    return try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await node.run() }
        _ = try await node.submitCommand([2])
        _ = try await node.submitCommand([3])
        let total = try await node.read([], consistency: .linearizable)
        await node.stop()
        return String(decoding: total, as: UTF8.self)
    }
}
// snippet.end

@Suite("README quick start")
struct QuickStartTests {
    @Test("The quick start runs and counts to 5")
    func quickStart() async throws {
        #expect(try await runCounterNode(transport: InProcessNetwork()) == "5")
    }
}
