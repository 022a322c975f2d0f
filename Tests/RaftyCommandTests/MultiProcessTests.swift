import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

/// Three `rafty serve` processes on loopback, driven over HTTP; killed with SIGKILL.
@Suite("rafty serve as separate processes", .serialized, .timeLimit(.minutes(3)))
struct MultiProcessTests {
    @Test("500 writes through random nodes, kill -9 the leader, keep writing, restart it: every acknowledged write is on every node")
    func killLeader() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }  // also when the test fails
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await cluster.startAll()
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            var acknowledged: [String: String] = [:]
            var unknown = 0
            for i in 0..<500 {
                let key = "key \(i)/ü"  // a space, a slash and UTF-8: percent-encoded into one segment
                switch try await cluster.put(client, node: cluster.ids.randomElement()!, key: key, value: "v\(i)") {
                case .ok: acknowledged[key] = "v\(i)"
                case .unknown: unknown += 1
                case .notApplied: break
                }
            }
            #expect(acknowledged.count >= 490, "a healthy cluster acknowledges (nearly) every write")
            let leader = try await cluster.leader(client, among: cluster.ids)
            cluster.kill(leader)
            let survivors = cluster.ids.filter { $0 != leader }
            // Until the survivors elect a new leader, writes fail (503, or 504 when the forward to
            // the dead leader breaks); a client retries. Rewriting the same value is idempotent.
            for i in 500..<700 {
                let key = "key \(i)/ü"
                try await cluster.waitUntil("write \(i) is acknowledged") {
                    switch try await cluster.put(client, node: survivors.randomElement()!, key: key, value: "v\(i)") {
                    case .ok:
                        acknowledged[key] = "v\(i)"
                        return true
                    case .unknown:
                        unknown += 1
                        return false
                    case .notApplied:
                        return false
                    }
                }
            }
            try cluster.start(leader)  // same data directory: it resumes from disk
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            for node in cluster.ids {
                for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                    let read = try await cluster.get(client, node: node, key: key, consistency: "linearizable")
                    #expect(read == value, "node \(node), key \(key)")
                    if read != value { break }
                }
            }
            // The restarted node's own copy catches up too (stale reads are served locally).
            let caughtUp = try await cluster.waitUntil("node \(leader) applied every acknowledged write") {
                for (key, value) in acknowledged where try await cluster.get(client, node: leader, key: key, consistency: "stale") != value {
                    return false
                }
                return true
            }
            #expect(caughtUp)
            print("multi-process: \(acknowledged.count) acknowledged, \(unknown) unknown outcomes")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// Outcome of a write, as the HTTP contract defines it.
enum WriteOutcome {
    case ok
    /// 503 or 4xx: not applied, never will be.
    case notApplied
    /// 504 or a broken connection: may or may not be applied.
    case unknown
}

/// `rafty serve` processes with their own ports and data directories.
final class ProcessCluster: Sendable {
    let ids: [UInt64]
    let directory = TemporaryDirectory("rafty-processes")
    let grpcPorts: [UInt64: Int]
    let httpPorts: [UInt64: Int]
    private let processes = Mutex<[UInt64: Process]>([:])
    let binary: String

    init(size: Int) throws {
        self.ids = (1...UInt64(size)).map { $0 }
        var ports = try freePorts(count: 2 * size)
        self.grpcPorts = Dictionary(uniqueKeysWithValues: self.ids.map { ($0, ports.removeFirst()) })
        self.httpPorts = Dictionary(uniqueKeysWithValues: self.ids.map { ($0, ports.removeFirst()) })
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        self.binary = executable.appendingPathComponent("rafty").path
        guard FileManager.default.isExecutableFile(atPath: self.binary) else {
            throw TimedOut(description: "the rafty binary is not at \(self.binary); build it with `swift build --product rafty`")
        }
    }

    func startAll() throws { for id in self.ids { try self.start(id) } }

    /// Starts `rafty serve` for node `id`; `peers` defaults to every other node (none: no `--peers`).
    /// `wrapper` runs it under another program (`strace ...`), which gets the binary's path first.
    func start(_ id: UInt64, peers: [UInt64]? = nil, extraArguments: [String] = [], wrapper: [String] = []) throws {
        let peers = peers ?? self.ids.filter { $0 != id }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? self.binary)
        process.arguments =
            Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [self.binary]) + [
                "serve", "--id", "\(id)", "--address", self.grpcAddress(id),
                "--http", "127.0.0.1:\(self.httpPorts[id]!)",
                "--data-dir", "\(self.directory.path)/node-\(id)", "--log-level", "info",
            ]
            + (peers.isEmpty ? [] : ["--peers", peers.map(self.grpcAddress).joined(separator: ",")])
            + extraArguments
        let log = "\(self.directory.path)/node-\(id).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.processes.withLock { $0[id] = process }
    }

    func kill(_ id: UInt64) {
        guard let process = self.processes.withLock({ $0.removeValue(forKey: id) }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, ...) to node `id`'s process.
    func signal(_ id: UInt64, _ signal: Int32) {
        guard let process = self.processes.withLock({ $0[id] }) else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Whether node `id`'s process is running (it may have exited by itself).
    func isRunning(_ id: UInt64) -> Bool { self.processes.withLock { $0[id]?.isRunning ?? false } }

    func killAll() {
        for id in self.ids { self.kill(id) }
    }

    func printLogs() {
        for id in self.ids {
            let log = (try? String(contentsOfFile: "\(self.directory.path)/node-\(id).log", encoding: .utf8)) ?? ""
            print("--- node \(id) log (last 40 lines)\n" + log.split(separator: "\n").suffix(40).joined(separator: "\n"))
        }
    }

    /// Waits until node `id`'s process (or its wrapper) ended by itself; false at the deadline.
    func waitForExit(_ id: UInt64, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !self.isRunning(id) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Forgets node `id`'s process handle once it ended.
    func reap(_ id: UInt64) {
        guard let process = self.processes.withLock({ $0.removeValue(forKey: id) }) else { return }
        process.waitUntilExit()
    }

    func dataDirectory(_ id: UInt64) -> String { "\(self.directory.path)/node-\(id)" }

    func grpcAddress(_ id: UInt64) -> String { "127.0.0.1:\(self.grpcPorts[id]!)" }

    /// `http`, or `https` for a cluster started with `--cert-file`.
    var scheme: String { self.schemeStorage.withLock { $0 } }
    private let schemeStorage = Mutex("http")
    func useHTTPS() { self.schemeStorage.withLock { $0 = "https" } }

    func url(_ id: UInt64, _ path: String) -> String { "\(self.scheme)://127.0.0.1:\(self.httpPorts[id]!)\(path)" }

    static func encode(_ key: String) -> String {
        key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    func put(_ client: HTTPClient, node: UInt64, key: String, value: String) async throws -> WriteOutcome {
        var request = HTTPClientRequest(url: self.url(node, "/v1/kv/\(Self.encode(key))"))
        request.method = .PUT
        request.body = .bytes(ByteBuffer(string: value))
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            switch response.status.code {
            case 200: return .ok
            case 504: return .unknown
            case 400..<504: return .notApplied
            default: return .unknown
            }
        } catch {
            // The connection failed: refused (not applied) or broken mid-request (unknown).
            return .unknown
        }
    }

    func get(_ client: HTTPClient, node: UInt64, key: String, consistency: String) async throws -> String? {
        let request = HTTPClientRequest(url: self.url(node, "/v1/kv/\(Self.encode(key))?consistency=\(consistency)"))
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        switch response.status.code {
        case 200: return String(buffer: body)
        case 404: return nil
        default: throw TimedOut(description: "GET \(key) on node \(node): \(response.status.code) \(String(buffer: body))")
        }
    }

    func status(_ client: HTTPClient, node: UInt64) async throws -> [String: Any] {
        let response = try await client.execute(HTTPClientRequest(url: self.url(node, "/v1/status")), timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any]) ?? [:]
    }

    /// Polls `condition` every 20 ms for up to 30 s.
    @discardableResult
    func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TimedOut(description: "timed out waiting until \(what)")
    }

    func waitUntilReady(_ client: HTTPClient, nodes: [UInt64]) async throws {
        for node in nodes {
            try await self.waitUntil("node \(node) is ready") {
                let response = try await client.execute(HTTPClientRequest(url: self.url(node, "/ready")), timeout: .seconds(1))
                _ = try await response.body.collect(upTo: 1 << 16)
                return response.status.code == 200
            }
        }
    }

    func leader(_ client: HTTPClient, among nodes: [UInt64]) async throws -> UInt64 {
        var leader: UInt64?
        try await self.waitUntil("a leader is known") {
            for node in nodes where (try await self.status(client, node: node))["state"] as? String == "leader" {
                leader = node
                return true
            }
            return false
        }
        return leader!
    }
}

/// `count` loopback ports no other test of this process got.
func freePorts(count: Int) throws -> [Int] {
    (0..<count).map { _ in LoopbackPorts.next() }
}
