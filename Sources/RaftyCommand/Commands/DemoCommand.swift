import ArgumentParser
import Foundation
import RaftCore
import Rafty
import RaftyGRPC
import RaftyKV
import Synchronization

/// `rafty demo`: a 3-node cluster in one process on loopback, narrated.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a cluster in this process on loopback and show Raft at work (about 10 seconds).",
        discussion: """
            Elects a leader, commits commands, stops the leader, elects a new one, reads every \
            command back linearizably and prints the nodes' status. Data lives in a fresh temporary \
            directory (or --data-dir) that is removed at exit.
            """
    )

    @Option(help: "Number of nodes, 3...7.")
    var nodes = 3

    @Option(name: .customLong("base-port"), help: "gRPC port of the first node; the others follow.")
    var basePort = 50051

    @Option(name: .customLong("data-dir"), help: "Parent directory for the nodes' data (default: a fresh temporary directory).")
    var dataDirectory: String?

    @Option(help: "Commands to commit.")
    var commands = 1000

    @Option(help: "Concurrent submitters.")
    var clients = 32

    func validate() throws {
        guard (3...7).contains(self.nodes) else { throw ValidationError("--nodes must be in 3...7, got \(self.nodes)") }
        guard (1...(65_535 - self.nodes)).contains(self.basePort) else { throw ValidationError("--base-port must leave room for \(self.nodes) ports") }
        guard self.commands >= 1, self.commands <= 1_000_000 else { throw ValidationError("--commands must be in 1...1000000") }
        guard self.clients >= 1, self.clients <= 1024 else { throw ValidationError("--clients must be in 1...1024") }
    }

    func run() async throws {
        let root =
            try self.dataDirectory.map { parent in
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                return try makeTemporaryDirectory(in: parent)
            } ?? makeTemporaryDirectory(in: NSTemporaryDirectory())
        defer { try? FileManager.default.removeItem(atPath: root) }
        let narrator = Narrator()
        let cluster = DemoCluster(size: self.nodes, basePort: self.basePort, root: root)
        narrator.say(
            "Rafty demo: \(self.nodes) nodes on 127.0.0.1:\(self.basePort)...\(self.basePort + self.nodes - 1) (gRPC), data in \(root) (removed at exit)")
        try await withThrowingDiscardingTaskGroup { group in
            for id in cluster.ids { try cluster.start(id, in: &group) }
            narrator.done("\(self.nodes) nodes up, discovering each other")

            let leader = try await cluster.waitForLeader(excluding: [])
            narrator.done("leader elected: node \(leader.id), term \(leader.term)", timed: true)

            let written = try await cluster.write(count: self.commands, clients: self.clients)
            let rate = Double(self.commands) / written.seconds
            narrator.done(
                "\(self.commands) commands committed by \(self.clients) concurrent clients: \(format(rate, decimals: 0)) commands/s, "
                    + "p50 \(format(written.p50 * 1000, decimals: 2)) ms, p99 \(format(written.p99 * 1000, decimals: 2)) ms",
                timed: true)

            narrator.say("stopping the leader, node \(leader.id) (it hands leadership over first)")
            await cluster.node(leader.id).stop()
            let next = try await cluster.waitForLeader(excluding: [leader.id])
            narrator.done("new leader elected: node \(next.id), term \(next.term)", timed: true)

            let reader = cluster.ids.first { $0 != leader.id && $0 != next.id } ?? next.id
            let missing = try await cluster.readBack(count: self.commands, from: reader, clients: self.clients)
            guard missing.isEmpty else {
                throw DemoFailure("\(missing.count) acknowledged commands are missing, first: \(missing[0])")
            }
            narrator.done("all \(self.commands) commands read back linearizably through node \(reader)", timed: true)

            narrator.say("")
            narrator.say(cluster.statusTable())
            for id in cluster.ids { await cluster.node(id).stop() }
        }
        narrator.say("done in \(format(narrator.elapsed, decimals: 1)) s")
    }
}

/// Why the demo failed.
struct DemoFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Prints progress lines with the time since the previous milestone.
final class Narrator: Sendable {
    private let started = ContinuousClock.now
    private let last = Mutex(ContinuousClock.now)

    var elapsed: Double { seconds(ContinuousClock.now - self.started) }

    func say(_ line: String) {
        // Unbuffered, so progress shows at once also when stdout is a pipe.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func done(_ line: String, timed: Bool = false) {
        let now = ContinuousClock.now
        let since = self.last.withLock { last in
            defer { last = now }
            return last
        }
        self.say(timed ? "✓ \(line)  (\(format(seconds(now - since) * 1000, decimals: 0)) ms)" : "✓ \(line)")
    }
}

func seconds(_ duration: Duration) -> Double {
    let (whole, fraction) = duration.components
    return Double(whole) + Double(fraction) / 1e18
}

func format(_ value: Double, decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

func makeTemporaryDirectory(in parent: String) throws -> String {
    var template = Array("\(parent.hasSuffix("/") ? parent : parent + "/")rafty-demo-XXXXXX".utf8CString)
    guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw DemoFailure("cannot create a temporary directory in \(parent)")
    }
    return String(cString: path)
}
