import Foundation
import RaftyTestSupport
import Synchronization

/// `rafty serve` processes, each in its own network namespace on a bridge (10.77.S.ID), so a
/// test can cut a node off the network for real (its veth goes down) while its process runs.
/// Needs root and `ip` (iproute2).
final class NamespaceCluster: Sendable {
    let ids: [UInt64]
    let directory = TemporaryDirectory("rafty-chaos")
    let binary: String
    /// Short and unique per process: interface names have at most 15 characters.
    let tag: String
    let subnet: Int
    private let processes = Mutex<[UInt64: Process]>([:])

    /// Whether this machine can run it: root, and `ip netns` works.
    static var isSupported: Bool {
        guard getuid() == 0, let ip = Self.ipCommand else { return false }
        let name = "rafty-probe-\(getpid())"
        return (try? Self.run(ip, ["netns", "add", name])) != nil && (try? Self.run(ip, ["netns", "del", name])) != nil
    }

    static let ipCommand = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `round` keeps the names of consecutive clusters of one process apart (the kernel may still
    /// be tearing down the previous one's namespaces).
    init(size: Int, round: Int = 0) throws {
        self.ids = (1...UInt64(size)).map { $0 }
        self.tag = "\(getpid() % 100_000)r\(round % 100)"
        self.subnet = Int(getpid() % 200) + 20
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        self.binary = executable.appendingPathComponent("rafty").path
    }

    func ip(_ id: UInt64) -> String { "10.77.\(self.subnet).\(id)" }
    func url(_ id: UInt64, _ path: String) -> String { "http://\(self.ip(id)):8080\(path)" }
    var bridge: String { "rb\(self.tag)" }
    func namespace(_ id: UInt64) -> String { "rn\(self.tag)-\(id)" }
    func hostSide(_ id: UInt64) -> String { "rv\(self.tag)-\(id)" }

    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TimedOut(description: "\(program) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    func ipCommand(_ arguments: [String]) throws { try Self.run(Self.ipCommand!, arguments) }

    /// The bridge and one namespace per node, connected by veth pairs.
    func setUp() throws {
        try self.ipCommand(["link", "add", self.bridge, "type", "bridge"])
        try self.ipCommand(["addr", "add", "10.77.\(self.subnet).254/24", "dev", self.bridge])
        try self.ipCommand(["link", "set", self.bridge, "up"])
        for id in self.ids {
            let namespace = self.namespace(id)
            let peer = "rp\(self.tag)-\(id)"
            try self.ipCommand(["netns", "add", namespace])
            try self.ipCommand(["link", "add", self.hostSide(id), "type", "veth", "peer", "name", peer])
            try self.ipCommand(["link", "set", peer, "netns", namespace])
            try self.ipCommand(["link", "set", self.hostSide(id), "master", self.bridge])
            try self.ipCommand(["link", "set", self.hostSide(id), "up"])
            try self.ipCommand(["-n", namespace, "addr", "add", "\(self.ip(id))/24", "dev", peer])
            try self.ipCommand(["-n", namespace, "link", "set", peer, "up"])
            try self.ipCommand(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    /// Kills every process and removes the links, the namespaces and the bridge.
    func tearDown() {
        self.killAll()
        // Deleting a veth end deletes both at once; a deleted namespace is torn down lazily.
        for id in self.ids { try? self.ipCommand(["link", "del", self.hostSide(id)]) }
        for id in self.ids { try? self.ipCommand(["netns", "del", self.namespace(id)]) }
        try? self.ipCommand(["link", "del", self.bridge])
    }

    /// Starts `rafty serve` for node `id` inside its namespace (`ip netns exec` execs it: same pid).
    func start(_ id: UInt64) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ipCommand!)
        let peers = self.ids.filter { $0 != id }.map { "\(self.ip($0)):7000" }.joined(separator: ",")
        process.arguments = [
            "netns", "exec", self.namespace(id), self.binary, "serve", "--id", "\(id)", "--address", "\(self.ip(id)):7000",
            "--http", "\(self.ip(id)):8080", "--peers", peers, "--data-dir", "\(self.directory.path)/node-\(id)",
            "--insecure-plaintext", "--log-level", "info",
        ]
        let log = "\(self.directory.path)/node-\(id).log"
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.processes.withLock { $0[id] = process }
    }

    func isRunning(_ id: UInt64) -> Bool { self.processes.withLock { $0[id]?.isRunning ?? false } }

    func kill(_ id: UInt64) {
        guard let process = self.processes.withLock({ $0.removeValue(forKey: id) }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func signal(_ id: UInt64, _ signal: Int32) {
        guard let process = self.processes.withLock({ $0[id] }) else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Cuts node `id` off the network both ways (its process keeps running), or reconnects it.
    func setConnected(_ id: UInt64, _ connected: Bool) throws {
        try self.ipCommand(["link", "set", self.hostSide(id), connected ? "up" : "down"])
    }

    /// Cuts node `id` off from every other node, both ways, with blackhole routes in the
    /// namespaces, while clients (on the bridge's own address) still reach it; or heals that.
    func setPartitionedFromPeers(_ id: UInt64, _ partitioned: Bool) throws {
        let verb = partitioned ? "add" : "del"
        for other in self.ids where other != id {
            try self.ipCommand(["-n", self.namespace(id), "route", verb, "blackhole", "\(self.ip(other))/32"])
            try self.ipCommand(["-n", self.namespace(other), "route", verb, "blackhole", "\(self.ip(id))/32"])
        }
    }

    func killAll() {
        for id in self.ids {
            self.signal(id, SIGCONT)
            self.kill(id)
        }
    }

    /// The last lines of every node's log, for a failing test.
    func printLogs(lines: Int = 40) {
        for id in self.ids {
            let text = (try? String(contentsOfFile: "\(self.directory.path)/node-\(id).log", encoding: .utf8)) ?? ""
            print("--- node \(id) ---\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n"))
        }
    }
}
