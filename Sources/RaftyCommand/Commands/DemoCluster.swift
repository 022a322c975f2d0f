import Foundation
import RaftCore
import Rafty
import RaftyGRPC
import RaftyKV
import Synchronization

/// The demo's nodes: gRPC on loopback, a data directory each, a ``KVStore`` each.
final class DemoCluster: Sendable {
    let ids: [NodeID]
    let basePort: Int
    let root: String
    private let nodes = Mutex<[NodeID: RaftNode]>([:])

    init(size: Int, basePort: Int, root: String) {
        self.ids = (1...UInt64(size)).map { $0 }
        self.basePort = basePort
        self.root = root
    }

    func address(_ id: NodeID) -> String { "127.0.0.1:\(self.basePort + Int(id) - 1)" }
    func node(_ id: NodeID) -> RaftNode { self.nodes.withLock { $0[id]! } }

    func start(_ id: NodeID, in group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = self.ids.filter { $0 != id }.map(self.address)
        configuration.dataDirectory = "\(self.root)/node-\(id)"
        let transport = GRPCTransport()
        let node = try RaftNode(configuration: configuration, stateMachine: KVStore(), transport: transport)
        self.nodes.withLock { $0[id] = node }
        group.addTask {
            defer { transport.close() }
            try await node.run()
        }
    }

    /// Waits (up to 15 s) until exactly one running node leads and every running node knows it.
    func waitForLeader(excluding excluded: Set<NodeID>) async throws -> (id: NodeID, term: UInt64) {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let running = self.ids.filter { !excluded.contains($0) }.map { self.node($0).status }
            let leaders = running.filter { $0.state == .leader }
            if leaders.count == 1, running.allSatisfy({ $0.leaderID == leaders[0].id }) {
                return (leaders[0].id, leaders[0].term)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw DemoFailure("no leader was elected within 15 seconds")
    }

    /// Writes keys `demo-0 ..< count` from `clients` concurrent submitters spread over all nodes.
    func write(count: Int, clients: Int) async throws -> (seconds: Double, p50: Double, p99: Double) {
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for client in 0..<clients {
                let kv = KVClient(node: self.node(self.ids[client % self.ids.count]))
                group.addTask {
                    var latencies: [Double] = []
                    for index in stride(from: client, to: count, by: clients) {
                        let began = ContinuousClock.now
                        _ = try await kv.put(Array("demo-\(index)".utf8), value: Array("value-\(index)".utf8))
                        latencies.append(seconds(ContinuousClock.now - began))
                    }
                    return latencies
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        return (seconds(ContinuousClock.now - started), percentile(0.5), percentile(0.99))
    }

    /// Reads every demo key back linearizably through node `id` (`clients` reads at a time);
    /// returns the keys whose value is wrong or missing.
    func readBack(count: Int, from id: NodeID, clients: Int) async throws -> [String] {
        let kv = KVClient(node: self.node(id))
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var missing: [String] = []
                    for index in stride(from: client, to: count, by: clients) {
                        let value = try await kv.get(Array("demo-\(index)".utf8), consistency: .linearizable)
                        if value != Array("value-\(index)".utf8) { missing.append("demo-\(index)") }
                    }
                    return missing
                }
            }
            var missing: [String] = []
            for try await part in group { missing += part }
            return missing.sorted()
        }
    }

    /// Every node's status, as a table.
    func statusTable() -> String {
        var rows = [["NODE", "ADDRESS", "STATE", "TERM", "COMMIT", "APPLIED", "LEADER"]]
        for id in self.ids {
            let status = self.node(id).status
            rows.append([
                "\(id)", status.address, status.state.rawValue, "\(status.term)", "\(status.commitIndex)",
                "\(status.lastApplied)", status.leaderID.map { "\($0)" } ?? "-",
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
