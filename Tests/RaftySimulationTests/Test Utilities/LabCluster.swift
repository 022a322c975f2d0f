import RaftCore
import Testing

// `@testable` only to switch network faults on and off in the middle of a run, as the lab's
// `setunreliable` / `setlongreordering` do (`Simulation.options` has an internal setter).
@testable import RaftySimulation

/// The 6.824 lab's `config` (config.go) on top of ``Simulation``: lab-style connectivity, crash and
/// restart, `checkOneLeader`, `one`, `wait`, `nCommitted`.
///
/// Time: the lab's election timeout (~1 s) is 10 ticks here, so one lab millisecond is
/// `tickInterval / 100` time units; every "sleep" runs the simulation.
///
/// Commands: the lab replicates ints; here an int `v` is the key/value write `k(v % 8) := v`, so
/// the simulator's state-machine and snapshot comparisons see real, changing state.
struct LabCluster {
    var sim: Simulation
    /// The test's own randomness (the lab's `rand`), seeded per test.
    var rng: SplitMix64
    let servers: Int
    /// Lab connectivity: `connected[id - 1]`. A disconnected node can talk to nobody; connecting a
    /// node links it to every connected node (and not to the disconnected ones).
    private(set) var connected: [Bool]

    /// `RAFTY_CLASSIC_SEED_OFFSET=N` shifts every test's fixed seed by N, to explore other runs.
    static let seedOffset = ProcessEnvironment().value("RAFTY_CLASSIC_SEED_OFFSET").flatMap(UInt64.init) ?? 0

    init(servers: Int, seed fixedSeed: UInt64, unreliable: Bool = false, snapshotInterval: UInt64? = nil) {
        let seed = fixedSeed &+ Self.seedOffset &* 100_003
        var options = SimulationOptions(nodeCount: servers, seed: seed)
        if unreliable { options.makeUnreliable() }
        options.snapshotThreshold = snapshotInterval
        self.sim = Simulation(options: options)
        self.rng = SplitMix64(seed: seed ^ 0x6A09_E667_F3BC_C909)
        self.servers = servers
        self.connected = Array(repeating: true, count: servers)
    }

    var ids: [NodeID] { self.sim.nodeIDs }

    // MARK: - Randomness

    /// `rand.Int() % n`.
    mutating func random(_ n: Int) -> Int { Int(self.rng.next() % UInt64(n)) }
    /// The lab's `(id + offset) % servers`, for 1-based ids.
    func peer(_ id: NodeID, _ offset: Int) -> NodeID { NodeID((Int(id) - 1 + offset) % self.servers + 1) }
    /// A uniformly random server id.
    mutating func randomServer() -> NodeID { NodeID(self.random(self.servers) + 1) }
    /// `rand.Int()`: a random non-negative value for a command.
    mutating func randomValue() -> Int { Int(self.rng.next() >> 2) }

    // MARK: - Commands

    static func command(_ value: Int) -> [UInt8] {
        KVStateMachine.encode(.write(key: "k\(value % 8)", value: value))
    }

    /// The lab int carried by an entry (nil for no-ops and configuration entries).
    static func value(of entry: Entry?) -> Int? {
        guard case .command(let bytes)? = entry?.payload, case .write(_, let value)? = KVStateMachine.decode(bytes) else {
            return nil
        }
        return value
    }

    // MARK: - Time

    /// The lab's `time.Sleep(ms)`.
    mutating func sleep(ms: Int) {
        self.sim.run(until: self.sim.now + self.units(ms: ms))
    }

    /// Sleeps for `ticks` ticks (one lab election timeout = 10 ticks).
    mutating func sleep(ticks: Int) { self.sim.run(ticks: ticks) }

    func units(ms: Int) -> UInt64 { UInt64(ms) * self.sim.options.tickInterval / 100 }

    /// The most ticks any node can have taken since `time` (clocks run up to `clockSkew` fast).
    func maxTicks(since time: UInt64) -> Int {
        let options = self.sim.options
        let shortestTick = max(1, UInt64((Double(options.tickInterval) * (1 - options.clockSkew)).rounded(.down)))
        return Int((self.sim.now - time) / shortestTick) + 1
    }

    /// The fewest ticks every node has taken since `time` (clocks run up to `clockSkew` slow).
    func minTicks(since time: UInt64) -> Int {
        let options = self.sim.options
        let longestTick = UInt64((Double(options.tickInterval) * (1 + options.clockSkew)).rounded(.up))
        return Int((self.sim.now - time) / longestTick)
    }

    /// Election timeout in lab milliseconds.
    var electionTimeoutMs: Int { self.sim.options.electionTimeout * 100 }

    // MARK: - Faults

    func isUp(_ id: NodeID) -> Bool { self.sim.core(id) != nil }
    func isConnected(_ id: NodeID) -> Bool { self.connected[Int(id - 1)] }

    /// Lab `disconnect`: the node can talk to nobody (the simulator's `isolate`).
    mutating func disconnect(_ id: NodeID) {
        self.connected[Int(id - 1)] = false
        self.sim.isolate(id)
    }

    /// Lab `connect`: the node talks to every connected node again, still not to disconnected ones.
    mutating func connect(_ id: NodeID) {
        self.connected[Int(id - 1)] = true
        self.sim.reconnect(id)
        for other in self.ids where other != id && !self.isConnected(other) {
            self.sim.blockOneWay(from: id, to: other)
            self.sim.blockOneWay(from: other, to: id)
        }
    }

    /// Lab `crash1`: disconnect and kill; the disk survives.
    mutating func crash1(_ id: NodeID) {
        self.disconnect(id)
        self.sim.crash(id)
    }

    /// Lab `start1`: kill the node if it runs, then start a fresh instance from its disk,
    /// still disconnected (tests call `connect` next).
    mutating func start1(_ id: NodeID) {
        self.crash1(id)
        self.sim.restart(id)
    }

    /// Lab `setunreliable`.
    mutating func setUnreliable(_ unreliable: Bool) {
        if unreliable {
            self.sim.options.makeUnreliable()
        } else {
            self.sim.options.messageLoss = 0
            self.sim.options.duplication = 0
            self.sim.options.longDelay = 0
        }
    }

    /// Lab `setlongreordering`: the lab holds back 2/3 of the replies for 200...2200 ms; here 2/3 of
    /// all messages are held back for up to 10 ticks.
    mutating func setLongReordering(_ on: Bool) {
        self.sim.options.longDelay = on ? 2.0 / 3.0 : 0
    }

    // MARK: - Lab checks

    /// Lab `Start` on one node: nil unless it runs and leads.
    mutating func start(_ value: Int, at id: NodeID) -> (index: UInt64, term: UInt64)? {
        self.sim.propose(Self.command(value), at: id)
    }

    /// The simulator's first safety violation, for failure messages.
    var violation: String { self.sim.failure.map { "\n\($0)" } ?? "" }

    /// Lab `checkOneLeader`: polls every ~5 ticks (10 times) until exactly one connected node leads
    /// the newest term among connected leaders, and returns it; fails the test otherwise.
    @discardableResult
    mutating func checkOneLeader(sourceLocation: SourceLocation = #_sourceLocation) throws(LabFailure) -> NodeID {
        for _ in 0..<10 {
            self.sleep(ms: 450 + self.random(100))
            var leaders: [UInt64: [NodeID]] = [:]
            for id in self.ids where self.isConnected(id) {
                if let core = self.sim.core(id), core.role == .leader { leaders[core.term, default: []].append(id) }
            }
            for (term, ids) in leaders where ids.count > 1 {
                throw LabFailure("term \(term) has \(ids.count) (>1) leaders: \(ids.sorted())\(self.violation)", sourceLocation)
            }
            if let newest = leaders.keys.max() { return leaders[newest]![0] }
            if self.sim.failure != nil { break }
        }
        throw LabFailure("expected one leader, got none\n\(self.sim.describeNodes())\(self.violation)", sourceLocation)
    }

    /// Lab `checkTerms`: the term every connected running node agrees on.
    func checkTerms(sourceLocation: SourceLocation = #_sourceLocation) throws(LabFailure) -> UInt64 {
        let terms = Set(self.ids.filter(self.isConnected).compactMap { self.sim.core($0)?.term })
        guard terms.count == 1, let term = terms.first else {
            throw LabFailure("servers disagree on term: \(terms.sorted())", sourceLocation)
        }
        return term
    }

    /// Lab `checkNoLeader`: no connected node thinks it leads.
    func checkNoLeader() -> Bool {
        self.ids.allSatisfy { !self.isConnected($0) || self.sim.core($0)?.role != .leader }
    }

    /// Lab `nCommitted`: how many running nodes applied `index`, and the entry committed there.
    func nCommitted(_ index: UInt64) -> (count: Int, entry: Entry?) {
        self.sim.committedCount(at: index)
    }

    /// Lab `one`: submits `value` to a connected leader (retrying for 10 s) and waits up to 2 s for
    /// `expectedServers` nodes to apply it; returns its index or fails the test.
    @discardableResult
    mutating func one(
        _ value: Int, expectedServers: Int, retry: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws(LabFailure) -> UInt64 {
        var calls = [OneCall(value: value, expectedServers: expectedServers, retry: retry, now: self.sim.now)]
        self.drive(&calls) { !$0[0].isFinished }
        return try calls[0].result(in: self, sourceLocation: sourceLocation)
    }

    enum WaitResult: Equatable {
        case applied(Entry?)
        /// Some node moved past `startTerm` (the lab's -1).
        case termMoved
    }

    /// Lab `wait`: polls (10 ms doubling to 1 s, 30 times) until `n` nodes applied `index`; gives
    /// up with ``WaitResult/termMoved`` if a node's term passed `startTerm`. Fails the test if too
    /// few nodes applied it.
    @discardableResult
    mutating func wait(
        _ index: UInt64, n: Int, startTerm: UInt64?, sourceLocation: SourceLocation = #_sourceLocation
    ) throws(LabFailure) -> WaitResult {
        var sleep = 10
        for _ in 0..<30 {
            if self.nCommitted(index).count >= n { break }
            self.sleep(ms: sleep)
            if sleep < 1000 { sleep *= 2 }
            if let startTerm, self.ids.contains(where: { (self.sim.core($0)?.term ?? 0) > startTerm }) {
                return .termMoved
            }
        }
        let (count, entry) = self.nCommitted(index)
        guard count >= n else {
            throw LabFailure("only \(count) decided for index \(index); wanted \(n)\(self.violation)", sourceLocation)
        }
        return .applied(entry)
    }

    /// Every command value in the committed log, in log order (no-ops skipped).
    func committedValues(through index: UInt64) -> [Int] {
        guard index >= 1 else { return [] }
        return (1...index).compactMap { Self.value(of: self.sim.committedEntry(at: $0)) }
    }

    /// The committed index holding `value`, if any.
    func committedIndex(of value: Int) -> UInt64? {
        guard self.sim.highestCommittedIndex >= 1 else { return nil }
        return (1...self.sim.highestCommittedIndex).first { Self.value(of: self.sim.committedEntry(at: $0)) == value }
    }

    // MARK: - Concurrent clients

    /// Runs `tasks` cooperatively, each at its wake-up time, while `keepGoing` holds (and there is
    /// an unfinished task), or until simulated time reaches `deadline` if one is given.
    mutating func drive<T: LabTask>(_ tasks: inout [T], until deadline: UInt64? = nil, while keepGoing: ([T]) -> Bool = { _ in true }) {
        while self.sim.failure == nil, keepGoing(tasks) {
            var next: Int?
            for i in tasks.indices where !tasks[i].isFinished {
                if next == nil || tasks[i].wakeAt < tasks[next!].wakeAt { next = i }
            }
            guard let next, deadline.map({ tasks[next].wakeAt <= $0 }) ?? true else { break }
            self.sim.run(until: max(self.sim.now, tasks[next].wakeAt))
            if self.sim.failure != nil { break }
            tasks[next].step(in: &self)
        }
        if let deadline, self.sim.failure == nil { self.sim.run(until: deadline) }
    }
}

/// A fatal failure of a lab check (the lab's `t.Fatalf`): thrown, it ends the test with this message.
struct LabFailure: Error, CustomStringConvertible {
    let message: String
    let sourceLocation: SourceLocation

    init(_ message: String, _ sourceLocation: SourceLocation) {
        self.message = message
        self.sourceLocation = sourceLocation
    }

    var description: String { "\(self.sourceLocation.fileName):\(self.sourceLocation.line): \(self.message)" }
}

/// A client that the lab would run in its own goroutine, driven cooperatively by ``LabCluster/drive(_:until:while:)``.
protocol LabTask {
    /// When it next acts (simulated time).
    var wakeAt: UInt64 { get }
    var isFinished: Bool { get }
    /// Acts once at `wakeAt`; must finish or move `wakeAt` forward.
    mutating func step(in cluster: inout LabCluster)
}

/// One lab `one()` call in progress.
struct OneCall: LabTask {
    enum Outcome: Equatable {
        case agreed(UInt64)
        case failed(String)
    }

    let value: Int
    let expectedServers: Int
    let retry: Bool
    let startedAt: UInt64
    var starts = 0
    /// The index the command was started at and when, while waiting for agreement.
    var waiting: (index: UInt64, since: UInt64)?
    var wakeAt: UInt64
    var outcome: Outcome?

    init(value: Int, expectedServers: Int, retry: Bool, now: UInt64) {
        self.value = value
        self.expectedServers = expectedServers
        self.retry = retry
        self.startedAt = now
        self.wakeAt = now
    }

    var isFinished: Bool { self.outcome != nil }

    mutating func step(in cluster: inout LabCluster) {
        let now = cluster.sim.now
        if self.waiting == nil {
            guard now < self.startedAt + cluster.units(ms: 10_000) else {
                self.outcome = .failed("one(\(self.value)) failed to reach agreement within 10 s")
                return
            }
            // Try all the servers, maybe one is the leader.
            for _ in 0..<cluster.servers {
                self.starts = (self.starts + 1) % cluster.servers
                let id = NodeID(self.starts + 1)
                if cluster.isConnected(id), let (index, _) = cluster.start(self.value, at: id) {
                    self.waiting = (index, now)
                    break
                }
            }
            if self.waiting == nil {
                self.wakeAt = now + cluster.units(ms: 50)
                return
            }
        }
        // Somebody claimed to be the leader and to have submitted our command; wait for agreement.
        let (index, since) = self.waiting!
        let (count, entry) = cluster.nCommitted(index)
        if count > 0 && count >= self.expectedServers && LabCluster.value(of: entry) == self.value {
            self.outcome = .agreed(index)
        } else if now >= since + cluster.units(ms: 2000) {
            if !self.retry {
                self.outcome = .failed("one(\(self.value)) failed to reach agreement (index \(index), no retry)")
            } else {
                self.waiting = nil
                self.wakeAt = now
            }
        } else {
            self.wakeAt = now + cluster.units(ms: 20)
        }
    }

    /// The agreed index, or the lab's fatal error.
    @discardableResult
    func result(in cluster: LabCluster, sourceLocation: SourceLocation = #_sourceLocation) throws(LabFailure) -> UInt64 {
        switch self.outcome {
        case .agreed(let index):
            return index
        case .failed(let reason):
            throw LabFailure("\(reason)\n\(cluster.sim.describeNodes())\(cluster.violation)", sourceLocation)
        case nil:
            throw LabFailure("one(\(self.value)) did not finish\(cluster.violation)", sourceLocation)
        }
    }
}
