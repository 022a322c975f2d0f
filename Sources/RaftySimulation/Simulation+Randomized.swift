public import RaftCore

/// The outcome of one randomized run.
public struct SimulationReport: Sendable, CustomStringConvertible {
    /// The run's seed.
    public var seed: UInt64
    /// Nodes in the cluster.
    public var nodeCount: Int
    /// Events processed.
    public var steps: Int
    /// Client operations recorded (and checked for linearizability).
    public var operations: Int
    /// Operations that completed with a result.
    public var completedOperations: Int
    /// Entries committed.
    public var committedEntries: UInt64
    /// The faults injected, in order (for the failure report).
    public var faults: [String]
    /// A fingerprint of the committed log and the client history: equal for runs that replayed
    /// identically (computed without `Hasher`, whose seed differs per process).
    public var digest: UInt64
    /// The safety violation, stuck cluster or linearizability failure, if any.
    public var failure: SimulationFailure?
    /// Membership changes committed (membership runs).
    public var configurationChanges: Int = 0
    /// Membership changes the harness proposed, and how many of them the core refused.
    public var proposedChanges: Int = 0
    /// Membership changes the core refused (a change in progress, not yet committed in its term).
    public var refusedChanges: Int = 0
    /// The configuration committed at the end.
    public var finalConfiguration: ClusterConfiguration? = nil

    /// Whether the run found nothing wrong.
    public var passed: Bool { self.failure == nil }

    /// One line per run, or the failure with its replay command.
    public var description: String {
        if let failure { return "FAILED \(failure)\nfaults: \(self.faults.suffix(20).joined(separator: ", "))" }
        return "seed \(self.seed) (\(self.nodeCount) nodes): \(self.steps) steps, \(self.operations) ops "
            + "(\(self.completedOperations) completed), \(self.committedEntries) entries committed"
            + (self.finalConfiguration.map {
                ", \(self.proposedChanges) membership changes proposed (\(self.refusedChanges) refused), "
                    + "\(self.configurationChanges) committed, final \(describe($0))"
            } ?? "")
    }
}

extension Simulation {
    /// Runs a cluster under random faults — message loss, duplication, reordering, partitions,
    /// crashes (also in the middle of persisting), clock skew — with a client workload, checking
    /// the safety invariants after every step, then heals everything, checks that the cluster
    /// converges, and checks the client history for linearizability.
    public static func randomizedRun(seed: UInt64, nodeCount: Int, ticks: Int = 300) -> SimulationReport {
        var options = SimulationOptions(nodeCount: nodeCount, seed: seed)
        var rng = SplitMix64(seed: seed ^ 0xA076_1D64_78BD_642F)
        options.randomizeFaults(using: &rng)
        var simulation = Simulation(options: options)
        simulation.startClients(
            Int.random(in: 3...8, using: &rng), keys: Int.random(in: 1...3, using: &rng), pinnedReaders: nodeCount)
        // One run in four is a leader-churn run (Figure 8): short intervals, leaders crash often.
        let churn = Int.random(in: 0..<4, using: &rng) == 0

        var faults: [String] = []
        let end = simulation.now + UInt64(ticks) * options.tickInterval
        let maxDown = (nodeCount - 1) / 2
        while simulation.failure == nil && simulation.now < end {
            let interval = churn ? UInt64.random(in: 1...6, using: &rng) : UInt64.random(in: 2...25, using: &rng)
            simulation.run(until: simulation.now + interval * options.tickInterval)
            let ids = simulation.nodeIDs
            let down = ids.filter { simulation.core($0) == nil }
            let up = ids.filter { simulation.isHealthy($0) }
            let choice = churn && Bool.random(using: &rng) ? [2, 3].randomElement(using: &rng)! : Int.random(in: 0..<17, using: &rng)
            switch choice {
            case 0, 1, 2:
                // Case 2 is leader churn (Figure 8): crash the leader soon after it took over.
                let leader = up.first { simulation.core($0)?.role == .leader }
                if nodeCount - up.count < maxDown, let victim = choice == 2 ? leader : up.randomElement(using: &rng) {
                    faults.append(simulation.crashNowOrMidPersist(victim, name: victim == leader ? "leader \(victim)" : "\(victim)", using: &rng))
                }
            case 3, 4:
                if let fault = simulation.restartOne(of: down, using: &rng) { faults.append(fault) }
            case 5:
                faults.append(simulation.partitionInTwo(ids, using: &rng))
            case 6, 7:
                if let leader = ids.first(where: { simulation.core($0)?.role == .leader }) { faults.append(simulation.isolateLeader(leader)) }
            case 8:
                faults.append(simulation.blockOneRandomWay(ids, using: &rng))
            case 9, 10:
                faults.append(simulation.healAll())
            case 11:
                // A paused process (SIGSTOP, a long GC-like stall), usually the leader, sometimes
                // also cut off so that it cannot learn of its successor before serving reads.
                let leader = up.first { simulation.core($0)?.role == .leader }
                if let victim = Bool.random(using: &rng) ? leader : up.randomElement(using: &rng) {
                    let ticks = Int.random(in: 2...(3 * options.electionTimeout), using: &rng)
                    simulation.freeze(victim, ticks: ticks)
                    let isolated = Bool.random(using: &rng)
                    if isolated { simulation.isolate(victim) }
                    faults.append("t\(simulation.now) freeze \(victim) for \(ticks) ticks\(isolated ? ", isolated" : "")")
                }
            case 12:
                // Acknowledgements that arrive after later heartbeats were sent.
                let a = ids.randomElement(using: &rng)!
                let b = ids.filter { $0 != a }.randomElement(using: &rng)!
                let ticks = Int.random(in: 1...options.electionTimeout, using: &rng)
                simulation.slowLink(from: a, to: b, ticks: ticks)
                faults.append("t\(simulation.now) slow \(a)->\(b) by \(ticks) ticks")
            case 13:
                // A leadership transfer, often cut short: the old leader may not hear the outcome.
                if let leader = up.first(where: { simulation.core($0)?.role == .leader }),
                    let target = ids.filter({ $0 != leader }).randomElement(using: &rng),
                    (try? simulation.transferLeadership(from: leader, to: target)) != nil
                {
                    faults.append("t\(simulation.now) transfer \(leader)->\(target)")
                    if Bool.random(using: &rng) {
                        simulation.blockOneWay(from: target, to: leader)
                        faults.append("t\(simulation.now) block \(target)->\(leader)")
                    }
                }
            default:
                break
            }
        }

        return simulation.finish(seed: seed, nodeCount: nodeCount, faults: faults)
    }

    /// Heals everything, lets the cluster settle, checks convergence and linearizability, and reports.
    mutating func finish(seed: UInt64, nodeCount: Int, faults: [String], replayCommand: String? = nil) -> SimulationReport {
        self.stopClients()
        self.healNetwork()
        self.options.messageLoss = 0
        self.options.duplication = 0
        self.options.longDelay = 0
        for id in self.nodeIDs {
            self.cancelPendingCrash(id)
            self.restart(id)
        }
        self.run(ticks: 100)
        if self.failure == nil { self.checkConverged() }

        let history = self.clientHistory
        self.checkLinearizable(history)
        self.failure?.replayCommand = replayCommand
        var digest = FNV1a()
        for index in 1...max(1, self.highestCommittedIndex) {
            if let entry = self.committedEntry(at: index) { digest.add("\(entry.index):\(entry.term):\(entry.payload)") }
        }
        for entry in history { digest.add("\(entry)") }
        return SimulationReport(
            seed: seed, nodeCount: nodeCount, steps: self.steps, operations: history.count,
            completedOperations: history.filter { if case .ok = $0.outcome { true } else { false } }.count,
            committedEntries: self.highestCommittedIndex, faults: faults, digest: digest.value,
            failure: self.failure)
    }

    /// Fails the run if the client history is not linearizable (unless it already failed).
    mutating func checkLinearizable(_ history: [HistoryEntry]) {
        guard self.failure == nil else { return }
        let result = LinearizabilityChecker.check(history)
        if !result.isLinearizable {
            self.fail(
                "history is not linearizable\(result.timedOut ? " (checker gave up)" : ""): key \(result.failingKey ?? "?")\n\(result.explanation ?? "")")
        }
    }

    /// Liveness after healing: one leader, and every node applied everything committed.
    mutating func checkConverged() {
        let leaders = self.nodeIDs.filter { self.core($0)?.role == .leader }
        guard leaders.count == 1, let leader = leaders.first, let leaderCore = self.core(leader) else {
            self.fail("cluster did not converge to one leader after healing (leaders: \(leaders))\n\(self.describeNodes())")
            return
        }
        for id in self.nodeIDs {
            guard let core = self.core(id) else { continue }
            if core.term != leaderCore.term || self.appliedIndex(id) != leaderCore.commitIndex {
                self.fail(
                    "node \(id) did not catch up after healing: term \(core.term) applied \(self.appliedIndex(id)); leader \(leader) term \(leaderCore.term) commit \(leaderCore.commitIndex)"
                )
                return
            }
        }
    }
}

/// 64-bit FNV-1a, a stable fingerprint across processes.
struct FNV1a {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            self.value ^= UInt64(byte)
            self.value &*= 0x0000_0100_0000_01B3
        }
    }
}

extension SimulationOptions {
    /// Draws the network faults and tuning of a randomized run (loss, duplication, long delays,
    /// snapshots, pre-vote, batch size); both randomized runs draw them in this order.
    mutating func randomizeFaults(using rng: inout SplitMix64) {
        self.messageLoss = [0, 0.02, 0.1, 0.2].randomElement(using: &rng)!
        self.duplication = [0, 0.05].randomElement(using: &rng)!
        self.longDelay = [0, 0.02, 0.1].randomElement(using: &rng)!
        self.clockSkew = 0.05
        self.snapshotThreshold = [nil, 10, 40].randomElement(using: &rng)!
        self.preVote = Int.random(in: 0..<4, using: &rng) != 0
        self.maxAppendEntries = [1, 4, 64].randomElement(using: &rng)!
        self.commitOnDemand = Bool.random(using: &rng)
    }
}
