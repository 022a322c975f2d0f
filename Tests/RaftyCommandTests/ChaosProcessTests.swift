import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RaftCore
import RaftySimulation
import RaftyTestSupport
import Synchronization
import Testing

/// Five real `rafty serve` processes under a client workload while they are killed with SIGKILL
/// and restarted, frozen with SIGSTOP and thawed, cut off the network (each node has its own
/// network namespace), or cut off from their peers only (blackhole routes: clients still reach a
/// deposed leader, which must not answer from its stale state); then every key's history is checked for linearizability with the
/// simulator's checker, and every node must converge.
///
/// Needs root and `ip netns` (CI runs as root); elsewhere it is skipped. `RAFTY_CHAOS_SECONDS`
/// sets how long the faults run per round (default 45), `RAFTY_CHAOS_ROUNDS` how many rounds
/// (default 1; each a fresh cluster and history, so long runs stay checkable), `RAFTY_CHAOS_SEED`
/// the first round's fault schedule.
@Suite("Chaos: real processes, kills, freezes and partitions", .serialized, .timeLimit(.minutes(45)))
struct ChaosProcessTests {
    static let environment = ProcessInfo.processInfo.environment

    @Test(
        "Five nodes under kill -9, SIGSTOP and network partitions stay linearizable and converge",
        .enabled(if: NamespaceCluster.isSupported, "needs root and ip netns"))
    func chaos() async throws {
        let seconds = Self.environment["RAFTY_CHAOS_SECONDS"].flatMap(Int.init) ?? 45
        let rounds = Self.environment["RAFTY_CHAOS_ROUNDS"].flatMap(Int.init) ?? 1
        let seed = Self.environment["RAFTY_CHAOS_SEED"].flatMap(UInt64.init) ?? UInt64(Date().timeIntervalSince1970)
        var operations = 0
        for round in 0..<UInt64(max(rounds, 1)) {
            operations += try await self.round(seed: seed &+ round, seconds: seconds, number: Int(round))
        }
        print("chaos: \(rounds) round(s) of \(seconds) s, \(operations) operations checked")
    }

    /// One cluster, `seconds` of faults, one history checked; returns the operations checked.
    func round(seed: UInt64, seconds: Int, number: Int) async throws -> Int {
        print("chaos: seed \(seed), \(seconds) s of faults (replay with RAFTY_CHAOS_SEED=\(seed))")
        let cluster = try NamespaceCluster(size: 5, round: number)
        defer { cluster.tearDown() }  // also after a failed set-up
        try cluster.setUp()
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(1), read: .seconds(3))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let workload = ChaosWorkload(cluster: cluster, client: client)
        do {
            for id in cluster.ids { try cluster.start(id) }
            try await workload.waitUntilReady(cluster.ids)
            let end = ContinuousClock.now + .seconds(seconds)
            let faults = try await withThrowingTaskGroup(of: [String].self) { group in
                for number in 0..<6 {
                    group.addTask {
                        await workload.runClient(number, seed: seed, until: end)
                        return []
                    }
                }
                group.addTask {
                    var faults = ChaosFaults(cluster: cluster, workload: workload, seed: seed)
                    return try await faults.run(until: end)
                }
                var log: [String] = []
                for try await lines in group { log += lines }
                return log
            }
            // Heal everything and restart what is down, then read every key everywhere.
            for id in cluster.ids {
                try cluster.setConnected(id, true)
                cluster.signal(id, SIGCONT)
                if !cluster.isRunning(id) { try cluster.start(id) }
            }
            try await workload.waitUntilReady(cluster.ids)
            for id in cluster.ids {
                for key in ChaosWorkload.keys { await workload.finalRead(key, at: id) }
            }
            let history = workload.history
            let counts = workload.counts
            print("chaos: \(faults.count) faults: \(faults.joined(separator: "; "))")
            print("chaos: \(history.count) operations, \(counts)")
            let result = LinearizabilityChecker.check(history, maxStatesPerKey: 2_000_000)
            #expect(!result.timedOut, "the checker could not settle the history")
            #expect(result.isLinearizable || result.timedOut, "\(result.explanation ?? "")")
            #expect(counts.acknowledgedWrites > 0 && counts.reads > 0, "the workload made progress")
            // Every node converges on the same values (stale reads are served locally).
            let finals = Dictionary(
                uniqueKeysWithValues: try await ChaosWorkload.keys.asyncMap { ($0, try await workload.read($0, at: 1, consistency: "linearizable")) })
            for id in cluster.ids {
                try await workload.waitUntil("node \(id) converged") {
                    for key in ChaosWorkload.keys where try await workload.read(key, at: id, consistency: "stale") != finals[key]! { return false }
                    return true
                }
            }
            try await client.shutdown()
            return history.count
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// The fault schedule: one fault at a time, at most two nodes affected, for the given time.
struct ChaosFaults {
    let cluster: NamespaceCluster
    let workload: ChaosWorkload
    var rng: SplitMix64

    init(cluster: NamespaceCluster, workload: ChaosWorkload, seed: UInt64) {
        self.cluster = cluster
        self.workload = workload
        self.rng = SplitMix64(seed: seed)
    }

    mutating func milliseconds(_ range: ClosedRange<Int>) -> Duration { .milliseconds(Int.random(in: range, using: &self.rng)) }

    mutating func run(until end: ContinuousClock.Instant) async throws -> [String] {
        var log: [String] = []
        try await Task.sleep(for: .seconds(2))
        while ContinuousClock.now < end {
            let leader = await self.workload.leader()
            let target = Bool.random(using: &self.rng) ? (leader ?? 1) : self.cluster.ids.randomElement(using: &self.rng)!
            let second = self.cluster.ids.filter { $0 != target }.randomElement(using: &self.rng)!
            switch Int.random(in: 0..<5, using: &self.rng) {
            case 0:
                log.append("kill -9 node \(target)")
                self.cluster.kill(target)
                try await Task.sleep(for: self.milliseconds(300...3_000))
                try self.cluster.start(target)
            case 1:
                log.append("SIGSTOP node \(target)")
                self.cluster.signal(target, SIGSTOP)
                try await Task.sleep(for: self.milliseconds(500...5_000))
                self.cluster.signal(target, SIGCONT)
            case 2:
                log.append("partition node \(target)")
                try self.cluster.setConnected(target, false)
                try await Task.sleep(for: self.milliseconds(500...5_000))
                try self.cluster.setConnected(target, true)
            case 3:
                // Clients still reach it: a deposed leader that kept answering would be seen.
                let cutOff = leader ?? target
                log.append("partition node \(cutOff) from its peers")
                try self.cluster.setPartitionedFromPeers(cutOff, true)
                try await Task.sleep(for: self.milliseconds(500...5_000))
                try self.cluster.setPartitionedFromPeers(cutOff, false)
            default:
                log.append("kill -9 node \(target), partition node \(second)")
                self.cluster.kill(target)
                try self.cluster.setConnected(second, false)
                try await Task.sleep(for: self.milliseconds(500...4_000))
                try self.cluster.setConnected(second, true)
                try self.cluster.start(target)
            }
            try await Task.sleep(for: self.milliseconds(500...2_500))
        }
        return log
    }
}

/// Clients that write, compare-and-set and read (linearizable and lease) a few keys through
/// random nodes and record what they saw.
final class ChaosWorkload: Sendable {
    static let keys = ["a", "b", "c"]
    let cluster: NamespaceCluster
    let client: HTTPClient
    let start = ContinuousClock.now
    private let recorder = Mutex(HistoryRecorder())
    private let nextValue = Atomic<Int>(1)

    struct Counts: Sendable, CustomStringConvertible {
        var acknowledgedWrites = 0, notApplied = 0, unknown = 0, reads = 0, failedReads = 0
        var description: String {
            "\(self.acknowledgedWrites) writes acknowledged, \(self.notApplied) not applied, \(self.unknown) unknown, \(self.reads) reads answered, \(self.failedReads) failed"
        }
    }
    private let countsStorage = Mutex(Counts())
    var counts: Counts { self.countsStorage.withLock { $0 } }
    var history: [HistoryEntry] { self.recorder.withLock { $0.entries } }

    init(cluster: NamespaceCluster, client: HTTPClient) {
        self.cluster = cluster
        self.client = client
    }

    var now: UInt64 {
        let elapsed = ContinuousClock.now - self.start
        return UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
    }

    func runClient(_ number: Int, seed: UInt64, until end: ContinuousClock.Instant) async {
        var rng = SplitMix64(seed: seed &+ UInt64(number) &* 7919 &+ 1)
        var lastSeen: [String: Int] = [:]
        while ContinuousClock.now < end {
            let node = self.cluster.ids.randomElement(using: &rng)!
            let key = Self.keys.randomElement(using: &rng)!
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<35:
                await self.write(key, value: self.nextValue.wrappingAdd(1, ordering: .relaxed).oldValue, expected: nil, cas: false, at: node, client: number)
            case 35..<50:
                await self.write(
                    key, value: self.nextValue.wrappingAdd(1, ordering: .relaxed).oldValue, expected: lastSeen[key], cas: true, at: node, client: number)
            default:
                let consistency = Bool.random(using: &rng) ? "lease" : "linearizable"
                if let value = await self.recordedRead(key, at: node, consistency: consistency, client: number) { lastSeen[key] = value }
            }
        }
    }

    /// A write or compare-and-set (`expected` nil with `cas`: create only if absent).
    func write(_ key: String, value: Int, expected: Int?, cas: Bool, at node: UInt64, client number: Int) async {
        let operation: KVOperation = cas ? .cas(key: key, expected: expected, new: value) : .write(key: key, value: value)
        let id = self.recorder.withLock { $0.invoke(client: number, operation: operation, time: self.now) }
        var query = ""
        if cas { query = expected.map { "?prev=\($0)" } ?? "?prevExist=false" }
        var request = HTTPClientRequest(url: self.cluster.url(node, "/v1/kv/\(key)\(query)"))
        request.method = .PUT
        request.body = .bytes(ByteBuffer(string: String(value)))
        let outcome: KVOutcome
        do {
            let response = try await self.client.execute(request, timeout: .seconds(3))
            _ = try await response.body.collect(upTo: 1 << 16)
            switch response.status.code {
            case 200: outcome = .ok(cas ? .cas(swapped: true) : .written)
            case 409 where cas: outcome = .ok(.cas(swapped: false))
            case 504: outcome = .unknown
            case 400..<504: outcome = .failed
            default: outcome = .unknown
            }
        } catch {
            outcome = .unknown  // refused or broken mid-request: may or may not be applied
        }
        self.recorder.withLock { $0.complete(id, outcome: outcome, time: self.now) }
        self.countsStorage.withLock { counts in
            switch outcome {
            case .ok: counts.acknowledgedWrites += 1
            case .failed: counts.notApplied += 1
            case .unknown: counts.unknown += 1
            }
        }
    }

    /// A read recorded in the history; returns the value it saw (nil: absent or failed).
    @discardableResult
    func recordedRead(_ key: String, at node: UInt64, consistency: String, client number: Int) async -> Int? {
        let id = self.recorder.withLock { $0.invoke(client: number, operation: .read(key: key), time: self.now) }
        let outcome: KVOutcome
        var seen: Int?
        do {
            seen = try await self.read(key, at: node, consistency: consistency)
            outcome = .ok(.read(seen))
            self.countsStorage.withLock { $0.reads += 1 }
        } catch {
            outcome = .failed  // a read that failed changed nothing
            self.countsStorage.withLock { $0.failedReads += 1 }
        }
        self.recorder.withLock { $0.complete(id, outcome: outcome, time: self.now) }
        return seen
    }

    func finalRead(_ key: String, at node: UInt64) async {
        _ = try? await self.waitUntil("a final read of \(key) on node \(node)") {
            let id = self.recorder.withLock { $0.invoke(client: 1000 + Int(node), operation: .read(key: key), time: self.now) }
            do {
                let value = try await self.read(key, at: node, consistency: "linearizable")
                self.recorder.withLock { $0.complete(id, outcome: .ok(.read(value)), time: self.now) }
                return true
            } catch {
                self.recorder.withLock { $0.complete(id, outcome: .failed, time: self.now) }
                return false
            }
        }
    }

    struct ReadFailed: Error {}

    /// The value of `key` at `node` (nil: absent); throws unless the node answered 200 or 404.
    func read(_ key: String, at node: UInt64, consistency: String) async throws -> Int? {
        let response = try await self.client.execute(
            HTTPClientRequest(url: self.cluster.url(node, "/v1/kv/\(key)?consistency=\(consistency)")), timeout: .seconds(3))
        let body = try await response.body.collect(upTo: 1 << 16)
        switch response.status.code {
        case 200:
            guard let value = Int(String(buffer: body)) else { throw ReadFailed() }
            return value
        case 404: return nil
        default: throw ReadFailed()
        }
    }

    func waitUntilReady(_ nodes: [UInt64]) async throws {
        for node in nodes {
            try await self.waitUntil("node \(node) is ready") {
                let response = try await self.client.execute(HTTPClientRequest(url: self.cluster.url(node, "/ready")), timeout: .seconds(1))
                _ = try await response.body.collect(upTo: 1 << 16)
                return response.status.code == 200
            }
        }
    }

    /// The leader some node reports, if any answers.
    func leader() async -> UInt64? {
        for node in self.cluster.ids.shuffled() {
            guard let response = try? await self.client.execute(HTTPClientRequest(url: self.cluster.url(node, "/v1/status")), timeout: .milliseconds(500)),
                let body = try? await response.body.collect(upTo: 1 << 16),
                let json = try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any]
            else { continue }
            if let leader = json["leaderID"] as? Int, leader > 0 { return UInt64(leader) }
        }
        return nil
    }

    /// Polls `condition` every 50 ms for up to 60 s.
    func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TimedOut(description: "timed out waiting until \(what)")
    }
}
