import AsyncHTTPClient
import Foundation
import RaftyTestSupport
import Testing

/// `rafty serve` processes paused with SIGSTOP and killed with SIGKILL at random moments.
@Suite("rafty serve under process faults", .serialized, .timeLimit(.minutes(4)))
struct ProcessFaultTests {
    @Test("A leader frozen with SIGSTOP while a new leader acknowledges a newer value answers no read with the older one once thawed")
    func frozenLeader() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var stale = 0
        var answered = 0
        var failed = 0
        do {
            try await cluster.startAll()
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            for round in 0..<3 {
                let key = "k\(round)"
                let leader = try await cluster.leader(client, among: cluster.ids)
                try await cluster.waitUntil("the old value is acknowledged") {
                    try await cluster.put(client, node: leader, key: key, value: "old") == .ok
                }
                // The leader's lease is fresh; freeze the whole process (timers, event loop, sockets).
                cluster.signal(leader, SIGSTOP)
                let others = cluster.ids.filter { $0 != leader }
                let next = try await cluster.leader(client, among: others)
                try await cluster.waitUntil("the new value is acknowledged") {
                    try await cluster.put(client, node: next, key: key, value: "new") == .ok
                }
                // Reads reach the frozen process's socket buffers and wait there.
                let reads = (0..<6).map { i in
                    Task { try await cluster.get(client, node: leader, key: key, consistency: i % 2 == 0 ? "lease" : "linearizable") }
                }
                try await cluster.waitUntil("the reads are queued at node \(leader)") {
                    pendingRequests(toPort: cluster.httpPorts[leader]!) >= reads.count
                }
                cluster.signal(leader, SIGCONT)
                for read in reads {
                    switch await read.result {
                    case .success(let value):
                        answered += 1
                        if value == "old" { stale += 1 }
                    case .failure:
                        failed += 1  // 503/504 from a node that lost leadership: never stale
                    }
                }
                // The thawed node rejoins as a follower and reads the new value.
                try await cluster.waitUntil("node \(leader) reads the new value") {
                    try await cluster.get(client, node: leader, key: key, consistency: "linearizable") == "new"
                }
            }
            print("frozen leader: \(answered) reads answered, \(failed) refused, \(stale) stale")
            #expect(stale == 0, "\(stale) of \(answered) answered reads returned the overwritten value")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("Nodes killed with SIGKILL at random moments (start-up, elections, writes, snapshots) always restart with every acknowledged write")
    func randomKills() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        // Small snapshots, so kills also land while snapshots are taken, sent and installed.
        let arguments = ["--snapshot-threshold", "40", "--trailing-logs", "5"]
        var seed = SplitMix(UInt64(ProcessInfo.processInfo.environment["RAFTY_KILL_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max))
        let rounds = Int(ProcessInfo.processInfo.environment["RAFTY_KILL_ROUNDS"] ?? "") ?? 12
        print("random kills: seed \(seed.seed), \(rounds) rounds")
        var acknowledged: [String: String] = [:]
        var written = 0
        do {
            for id in cluster.ids { try cluster.start(id, extraArguments: arguments) }
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            for round in 0..<rounds {
                let victim = cluster.ids[Int(seed.next() % 3)]
                // Write for a random while, then kill the victim at once, mid-traffic.
                let writes = Int(seed.next() % 60)
                for _ in 0..<writes {
                    let key = "key\(written % 97)"
                    let value = "v\(written)"
                    written += 1
                    let node = cluster.ids[Int(seed.next() % 3)]
                    if try await cluster.put(client, node: node, key: key, value: value) == .ok { acknowledged[key] = value }
                }
                cluster.kill(victim)
                try cluster.start(victim, extraArguments: arguments)
                // Sometimes kill it again during its start-up (restore, log replay, first election).
                if seed.next() % 3 == 0 {
                    try await Task.sleep(for: .milliseconds(Int(seed.next() % 400)))
                    cluster.kill(victim)
                    try cluster.start(victim, extraArguments: arguments)
                }
                try await cluster.waitUntilReady(client, nodes: [victim])
                #expect(cluster.isRunning(victim), "round \(round): node \(victim) exited after a restart")
            }
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            for node in cluster.ids {
                for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                    var read: String?
                    try await cluster.waitUntil("node \(node) reads \(key)") {
                        read = try await cluster.get(client, node: node, key: key, consistency: "linearizable")
                        return true
                    }
                    // A later write may have overwritten it with a value whose outcome was unknown.
                    #expect(
                        read == value || read.map { Int($0.dropFirst())! > Int(value.dropFirst())! } == true,
                        "node \(node), key \(key): \(read ?? "nil") != \(value)")
                }
            }
            print("random kills: \(written) writes, \(acknowledged.count) keys acknowledged, \(rounds) rounds")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// Requests a stopped process has not read, from `/proc/net/tcp`: connections to `port` still in
/// the listener's accept queue (its `rx_queue` counts them) plus accepted ones with unread bytes.
func pendingRequests(toPort port: Int) -> Int {
    // /proc files report a size of 0: read to the end instead of by size.
    guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp"), let data = try? handle.readToEnd() else { return 0 }
    try? handle.close()
    let table = String(decoding: data, as: UTF8.self)
    let suffix = ":" + String(format: "%04X", port)
    var count = 0
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 4, fields[1].hasSuffix(suffix) else { continue }
        let queues = fields[4].split(separator: ":")  // tx_queue:rx_queue
        guard queues.count == 2, let received = Int(queues[1], radix: 16) else { continue }
        switch fields[3] {
        case "0A": count += received  // LISTEN: connections waiting to be accepted
        case "01": count += received > 0 ? 1 : 0  // ESTABLISHED with unread request bytes
        default: break
        }
    }
    return count
}

/// A seeded generator, so a failing run can be replayed (`RAFTY_KILL_SEED`).
struct SplitMix {
    let seed: UInt64
    private var state: UInt64
    init(_ seed: UInt64) {
        self.seed = seed
        self.state = seed
    }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
