import RaftCore
import Rafty
import Synchronization

// Proposal throughput and latency of a cluster in one process.
//
//   swift run -c release rafty-node-bench [--nodes 3] [--seconds 5] [--clients 1,64] [--dir DIR]
//
// Every node persists to its own data directory under DIR (fsync on); commands are 16 bytes.
#if canImport(Glibc)
    import Glibc
#endif

/// Counts applied commands; the benchmark's state machine.
final class CountingMachine: StateMachine {
    private let count = Mutex(0)
    func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        self.count.withLock { $0 += commands.count }
        return commands.map { _ in [] }
    }
    func query(_ request: [UInt8]) async throws -> [UInt8] { Array(String(self.count.withLock { $0 }).utf8) }
    func snapshot(to output: SnapshotOutput) async throws {
        try output.write(Array(String(self.count.withLock { $0 }).utf8))
    }
    func restore(from input: SnapshotInput) async throws {
        let bytes = try input.readAll()
        self.count.withLock { $0 = Int(String(decoding: bytes, as: UTF8.self)) ?? 0 }
    }
}

struct Options {
    var nodes = 3
    var seconds = 5.0
    var clients = [1, 64]
    var directory = "/tmp/rafty-node-bench-\(getpid())"

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--nodes": self.nodes = iterator.next().flatMap(Int.init) ?? self.nodes
            case "--seconds": self.seconds = iterator.next().flatMap(Double.init) ?? self.seconds
            case "--clients": self.clients = iterator.next()?.split(separator: ",").compactMap { Int($0) } ?? self.clients
            case "--dir": self.directory = iterator.next() ?? self.directory
            default:
                print("usage: rafty-node-bench [--nodes N] [--seconds S] [--clients 1,64] [--dir DIR]")
                exit(2)
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func percentile(_ sorted: [Duration], _ p: Double) -> String {
    guard !sorted.isEmpty else { return "-" }
    let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    return String(Int((seconds(value) * 1e6).rounded())) + " µs"
}

let options = Options(CommandLine.arguments)
let network = InProcessNetwork()
var nodes: [RaftNode] = []
for id in 1...UInt64(options.nodes) {
    var configuration = RaftNode.Configuration(id: id)
    configuration.address = "127.0.0.\(id):7000"
    configuration.peers = (1...UInt64(options.nodes)).filter { $0 != id }.map { "127.0.0.\($0):7000" }
    configuration.minimumClusterSize = options.nodes
    configuration.dataDirectory = "\(options.directory)/node-\(id)"
    nodes.append(try RaftNode(configuration: configuration, stateMachine: CountingMachine(), transport: network))
}
defer { _ = system("rm -rf '\(options.directory)'") }

try await withThrowingDiscardingTaskGroup { group in
    for node in nodes { group.addTask { try await node.run() } }
    let start = ContinuousClock.now
    var leader: RaftNode?
    while leader == nil {
        try await Task.sleep(for: .milliseconds(5))
        leader = nodes.first { $0.status.state == .leader }
    }
    print("\(options.nodes) nodes, in-process transport, fsync on; leader elected in \(Int(seconds(ContinuousClock.now - start) * 1000)) ms")
    print("")
    print("| submitters | commands/s | p50 | p99 | max | errors |")
    print("|-----------:|-----------:|----:|----:|----:|-------:|")
    for clients in options.clients {
        let deadline = ContinuousClock.now + .seconds(options.seconds)
        let began = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: ([Duration], Int).self) { tasks in
            for _ in 0..<clients {
                tasks.addTask { [leader] in
                    var latencies: [Duration] = []
                    var errors = 0
                    while ContinuousClock.now < deadline {
                        let sent = ContinuousClock.now
                        do {
                            _ = try await leader!.submitCommand([UInt8](repeating: 7, count: 16))
                            latencies.append(ContinuousClock.now - sent)
                        } catch {
                            errors += 1
                        }
                    }
                    return (latencies, errors)
                }
            }
            var all: [Duration] = []
            var errors = 0
            for try await (latencies, failed) in tasks {
                all += latencies
                errors += failed
            }
            return (all.sorted(), errors)
        }
        let elapsed = seconds(ContinuousClock.now - began)
        let rate = Int((Double(results.0.count) / elapsed).rounded())
        print("| \(clients) | \(rate) | \(percentile(results.0, 0.5)) | \(percentile(results.0, 0.99)) | \(percentile(results.0, 1.0)) | \(results.1) |")
    }
    for node in nodes { await node.stop() }
}
