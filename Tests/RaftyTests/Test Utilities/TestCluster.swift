import RaftCore
import Rafty
import Synchronization

/// A key/value state machine for runtime tests: commands are `key=value`, queries are keys;
/// it records the order in which it applied commands.
final class RecordingStateMachine: StateMachine {
    private let state = Mutex<(values: [String: String], log: [String], restores: Int)>(([:], [], 0))

    var appliedCommands: [String] { self.state.withLock { $0.log } }
    /// How often the state machine was restored from a snapshot.
    var restoreCount: Int { self.state.withLock { $0.restores } }

    func apply(_ commands: [[UInt8]]) async throws -> [[UInt8]] {
        self.state.withLock { state in
            commands.map { bytes in
                let text = String(decoding: bytes, as: UTF8.self)
                state.log.append(text)
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { state.values[parts[0]] = parts[1] }
                return Array("ok \(state.log.count)".utf8)
            }
        }
    }

    func query(_ request: [UInt8]) async throws -> [UInt8] {
        Array((self.state.withLock { $0.values[String(decoding: request, as: UTF8.self)] } ?? "").utf8)
    }

    func snapshot() async throws -> [UInt8] {
        self.state.withLock { state in
            Array((state.log.joined(separator: "\n")).utf8)
        }
    }

    func restore(from snapshot: [UInt8]) async throws {
        let log = String(decoding: snapshot, as: UTF8.self).split(separator: "\n").map(String.init)
        self.state.withLock { state in
            state.restores += 1
            state.log = log
            state.values = [:]
            for text in log {
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { state.values[parts[0]] = parts[1] }
            }
        }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it holds or `timeout` passes (then throws with `message`).
func eventually(
    _ message: @autoclosure () -> String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut(description: "timed out waiting: \(message())")
}

/// Nodes on an in-process network, each with its own data directory; runs them in a task group.
final class TestCluster: Sendable {
    let network = InProcessNetwork()
    let directory = TemporaryDirectory("rafty-cluster")
    let size: Int
    private let nodes = Mutex<[NodeID: (node: RaftNode, machine: RecordingStateMachine)]>([:])

    init(size: Int) { self.size = size }

    func address(_ id: NodeID) -> String { "10.0.0.\(id):50051" }

    func configuration(_ id: NodeID) -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = (1...UInt64(self.size)).filter { $0 != id }.map { self.address($0) }
        configuration.dataDirectory = "\(self.directory.path)/node-\(id)"
        configuration.tickInterval = .milliseconds(10)
        configuration.minimumClusterSize = min(3, self.size)
        return configuration
    }

    func node(_ id: NodeID) -> RaftNode { self.nodes.withLock { $0[id]!.node } }
    func machine(_ id: NodeID) -> RecordingStateMachine { self.nodes.withLock { $0[id]!.machine } }
    var ids: [NodeID] { self.nodes.withLock { $0.keys.sorted() } }

    /// Starts node `id` (again) in `group`, with a fresh state machine.
    func start(_ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>, configure: (inout RaftNode.Configuration) -> Void = { _ in }) throws {
        var configuration = self.configuration(id)
        configure(&configuration)
        let machine = RecordingStateMachine()
        let node = try RaftNode(configuration: configuration, stateMachine: machine, transport: self.network)
        self.nodes.withLock { $0[id] = (node, machine) }
        group.addTask { try await node.run() }
    }

    /// The node that leads, once exactly one running node does.
    func leader(excluding excluded: Set<NodeID> = []) async throws -> NodeID {
        var leader: NodeID?
        try await eventually("one leader") {
            let leaders = self.ids.filter { !excluded.contains($0) && self.node($0).status.state == .leader }
            leader = leaders.count == 1 ? leaders[0] : nil
            return leader != nil
        }
        return leader!
    }

    func stopAll() async {
        for id in self.ids { await self.node(id).stop() }
    }

    deinit { self.directory.remove() }
}
