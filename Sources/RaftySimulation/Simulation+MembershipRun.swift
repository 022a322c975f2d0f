public import RaftCore

extension Simulation {
    /// The most voters a membership run lets the cluster grow to.
    static let maxVoters = 5

    /// A randomized run with membership changes: `nodeCount` initial voters in `nodeCount + 2` slots
    /// (the extra slots start empty, outside the cluster). At random times the harness asks the
    /// current leader to add a learner, promote a caught-up learner, demote a voter or remove a
    /// member (the leader too), keeping 1...5 voters; refusals by the core are normal. Removed nodes
    /// keep running (and may disrupt) or are shut down for good. Faults and the client workload are
    /// those of ``randomizedRun(seed:nodeCount:ticks:)``, with crash budgets taken from the committed
    /// configuration. Every step is checked for safety (including the membership invariants); after
    /// healing, the members of the final committed configuration must converge under one leader,
    /// and the client history must be linearizable.
    public static func randomizedMembershipRun(seed: UInt64, nodeCount: Int, ticks: Int = 300) -> SimulationReport {
        var options = SimulationOptions(nodeCount: nodeCount + 2, seed: seed)
        options.initialVoters = nodeCount
        var rng = SplitMix64(seed: seed ^ 0x5BD1_E995_9E37_79B9)
        options.randomizeFaults(using: &rng)
        var simulation = Simulation(options: options)
        simulation.startClients(
            Int.random(in: 3...8, using: &rng), keys: Int.random(in: 1...3, using: &rng), pinnedReaders: nodeCount)
        let churn = Int.random(in: 0..<4, using: &rng) == 0

        var events: [String] = []
        /// Removed nodes that were shut down for good (restarted only if a late commit lists them).
        var decommissioned: Set<NodeID> = []
        var proposed = 0
        var refused = 0
        let end = simulation.now + UInt64(ticks) * options.tickInterval
        while simulation.failure == nil && simulation.now < end {
            let interval = churn ? UInt64.random(in: 1...6, using: &rng) : UInt64.random(in: 2...25, using: &rng)
            simulation.run(until: simulation.now + interval * options.tickInterval)
            guard simulation.failure == nil else { break }
            let ids = simulation.nodeIDs.filter { !decommissioned.contains($0) }
            let down = ids.filter { simulation.core($0) == nil }
            let up = ids.filter { simulation.isHealthy($0) }
            let leader = simulation.currentLeader
            let choice = churn && Bool.random(using: &rng) ? [2, 3].randomElement(using: &rng)! : Int.random(in: 0..<14, using: &rng)
            switch choice {
            case 0, 1, 2:
                let target = choice == 2 ? leader : up.randomElement(using: &rng)
                // Keep a majority of the voters (committed and latest) up, but now and then go over.
                if let victim = target, simulation.crashWithinBudget(victim, leader: leader) || Int.random(in: 0..<5, using: &rng) == 0 {
                    events.append(simulation.crashNowOrMidPersist(victim, name: victim == leader ? "leader \(victim)" : "\(victim)", using: &rng))
                }
            case 3, 4:
                if let fault = simulation.restartOne(of: down, using: &rng) { events.append(fault) }
            case 5 where ids.count > 1:
                events.append(simulation.partitionInTwo(ids, using: &rng))
            case 6:
                if let leader { events.append(simulation.isolateLeader(leader)) }
            case 7 where ids.count > 1:
                events.append(simulation.blockOneRandomWay(ids, using: &rng))
            case 8, 9:
                events.append(simulation.healAll())
            case 10:
                // Shut a removed node down for good.
                let committed = simulation.committedConfiguration
                let latest = leader.flatMap { simulation.core($0)?.configuration } ?? committed
                let removed = up.filter { simulation.hasBeenMember($0) && !committed.contains($0) && !latest.contains($0) }
                if let node = removed.randomElement(using: &rng) {
                    simulation.crash(node)
                    decommissioned.insert(node)
                    events.append("t\(simulation.now) shut down removed \(node)")
                }
            default:
                break
            }
            // About every other interval the leader is asked for a change; now and then for a second
            // one at once, which the core refuses while the first is uncommitted.
            if simulation.failure == nil && Bool.random(using: &rng) {
                let outcome = simulation.randomMembershipRequest(among: ids, events: &events, using: &rng)
                proposed += outcome.proposed
                refused += outcome.refused
                if outcome.proposed > 0 && Int.random(in: 0..<4, using: &rng) == 0 {
                    let again = simulation.randomMembershipRequest(among: ids, events: &events, using: &rng)
                    proposed += again.proposed
                    refused += again.refused
                }
            }
        }

        // Heal everything, bring every node but the shut-down ones back, let the cluster settle.
        simulation.stopClients()
        simulation.healNetwork()
        simulation.options.messageLoss = 0
        simulation.options.duplication = 0
        simulation.options.longDelay = 0
        for id in simulation.nodeIDs where !decommissioned.contains(id) {
            simulation.cancelPendingCrash(id)
            simulation.restart(id)
        }
        simulation.settle(maxTicks: 400)
        // A change appended before a node was shut down may have committed late and list it again:
        // an operator would bring it back.
        let stranded = decommissioned.filter { simulation.committedConfiguration.contains($0) }.sorted()
        if simulation.failure == nil && !stranded.isEmpty {
            for id in stranded { simulation.restart(id) }
            events.append("t\(simulation.now) restart shut-down members \(stranded)")
            simulation.settle(maxTicks: 400)
        }
        if simulation.failure == nil, let problem = simulation.membersConvergenceProblem() {
            simulation.fail("\(problem)\n\(simulation.describeNodes())")
        }

        let history = simulation.clientHistory
        simulation.checkLinearizable(history)
        simulation.failure?.replayCommand =
            "RAFTY_SIM_MEMBERSHIP_SEED=\(seed) swift test --skip-build --filter MembershipSimulationTests"
        var digest = FNV1a()
        for index in 1...max(1, simulation.highestCommittedIndex) {
            if let entry = simulation.committedEntry(at: index) { digest.add(digestText(entry)) }
        }
        for entry in history { digest.add(digestText(entry)) }
        for event in events { digest.add(event) }
        return SimulationReport(
            seed: seed, nodeCount: nodeCount, steps: simulation.steps, operations: history.count,
            completedOperations: history.filter { if case .ok = $0.outcome { true } else { false } }.count,
            committedEntries: simulation.highestCommittedIndex, faults: events, digest: digest.value,
            failure: simulation.failure, configurationChanges: simulation.configurationHistory.count,
            proposedChanges: proposed, refusedChanges: refused, finalConfiguration: simulation.committedConfiguration)
    }

    /// Asks the current leader for a random membership change it allows (or, when it removes or
    /// demotes itself, now and then to hand leadership over first). Returns how many changes were
    /// proposed and how many of them the core refused.
    mutating func randomMembershipRequest(
        among ids: [NodeID], events: inout [String], using rng: inout SplitMix64
    ) -> (proposed: Int, refused: Int) {
        guard let leader = self.currentLeader,
            let change = self.randomConfigurationChange(leader: leader, among: ids, using: &rng)
        else { return (0, 0) }
        let name = "\(change.kind) \(change.node)"
        if change.node == leader, change.kind != .addLearner, Bool.random(using: &rng),
            let target = self.core(leader)!.configuration.sortedVoters.filter({ $0 != leader }).randomElement(using: &rng)
        {
            // The polite way (DESIGN §2): hand leadership over first; a later request goes to the new leader.
            do {
                try self.transferLeadership(from: leader, to: target)
                events.append("t\(self.now) leader \(leader): transfer to \(target) before \(name)")
            } catch {
                events.append("t\(self.now) leader \(leader): transfer to \(target) refused (\(error.code))")
            }
            return (0, 0)
        }
        do {
            let (index, _) = try self.proposeConfigurationChange(change, at: leader)
            events.append("t\(self.now) leader \(leader): \(name) at \(index)")
            return (1, 0)
        } catch {
            events.append("t\(self.now) leader \(leader): \(name) refused (\(error.code))")
            return (1, 1)
        }
    }

    /// The healthy leader with the highest term, if any.
    public var currentLeader: NodeID? {
        self.leaders.filter { self.isHealthy($0.id) }.max { ($0.term, $1.id) < ($1.term, $0.id) }?.id
    }

    /// Whether `id` was ever part of a configuration (initial, or added since).
    func hasBeenMember(_ id: NodeID) -> Bool {
        self.initialConfiguration.contains(id) || self.nodes[Int(id - 1)].disk.hardState.term > 0
            || !self.nodes[Int(id - 1)].disk.entries.isEmpty || self.nodes[Int(id - 1)].disk.snapshot != nil
    }

    /// Whether crashing `victim` leaves a majority of the voters up, counting the voters of the
    /// committed configuration and of the leader's latest one.
    func crashWithinBudget(_ victim: NodeID, leader: NodeID?) -> Bool {
        var voters = self.committedConfiguration.voters
        if let leader, let core = self.core(leader) { voters.formUnion(core.configuration.voters) }
        guard voters.contains(victim) else { return true }
        let down = voters.filter { !self.isHealthy($0) }.count
        return down + 1 <= (voters.count - 1) / 2
    }

    /// A change the leader's configuration allows: the kind first (add, promote, demote, remove),
    /// then the node. Learners are promoted only once caught up with the commit index; voters stay
    /// in 1...5, and going down to one is rarer.
    func randomConfigurationChange(
        leader: NodeID, among ids: [NodeID], using rng: inout SplitMix64
    ) -> ConfigurationChange? {
        guard let core = self.core(leader) else { return nil }
        let configuration = core.configuration
        let voters = configuration.sortedVoters
        let learners = configuration.learners.sorted()
        let matches = core.status.matchIndex
        var choices: [[ConfigurationChange]] = []
        let outsiders = ids.filter { $0 != leader && !configuration.contains($0) && self.core($0) != nil }
        if !outsiders.isEmpty { choices.append(outsiders.map { ConfigurationChange(.addLearner, node: $0) }) }
        let caughtUp = learners.filter { (matches[$0] ?? 0) >= core.commitIndex }
        if voters.count < Self.maxVoters && !caughtUp.isEmpty {
            choices.append(caughtUp.map { ConfigurationChange(.promote, node: $0) })
        }
        // Shrinking to one or two voters is allowed but less likely, so most runs keep a real quorum.
        if voters.count > 2 || (voters.count == 2 && Int.random(in: 0..<3, using: &rng) == 0) {
            choices.append(voters.map { ConfigurationChange(.demote, node: $0) })
            choices.append(voters.map { ConfigurationChange(.remove, node: $0) } + learners.map { ConfigurationChange(.remove, node: $0) })
        } else if !learners.isEmpty {
            choices.append(learners.map { ConfigurationChange(.remove, node: $0) })
        }
        guard let kind = choices.randomElement(using: &rng) else { return nil }
        return kind.randomElement(using: &rng)
    }

    /// Runs until the members of the committed configuration converged (checked every 10 ticks),
    /// at most `maxTicks`, and at least 50 ticks (so late messages and elections show up).
    mutating func settle(maxTicks: Int) {
        var ticks = 0
        while self.failure == nil && ticks < maxTicks {
            self.run(ticks: 10)
            ticks += 10
            if ticks >= 50 && self.membersConvergenceProblem() == nil { return }
        }
    }

    /// Liveness after healing, or what is wrong: the members of the final committed configuration
    /// all run, one of its voters leads (the only leader anywhere), and every member is in the
    /// leader's term, has applied everything committed and holds the leader's configuration, which
    /// is the committed one.
    func membersConvergenceProblem() -> String? {
        let configuration = self.committedConfiguration
        let leaders = self.nodeIDs.filter { self.core($0)?.role == .leader }
        guard leaders.count == 1, let leader = leaders.first, let leaderCore = self.core(leader),
            configuration.voters.contains(leader)
        else {
            return "cluster did not converge to one leader among the voters \(configuration.sortedVoters) after healing (leaders: \(leaders))"
        }
        guard leaderCore.configuration == configuration else {
            return "leader \(leader)'s configuration \(describe(leaderCore.configuration)) is not the committed \(describe(configuration)) after healing"
        }
        for id in configuration.members {
            guard let core = self.core(id) else { return "member \(id) of the final configuration is down after healing" }
            if core.term != leaderCore.term || self.appliedIndex(id) != leaderCore.commitIndex || core.configuration != configuration {
                return "member \(id) did not catch up after healing: term \(core.term) applied \(self.appliedIndex(id)) "
                    + "configuration \(describe(core.configuration)); leader \(leader) term \(leaderCore.term) commit \(leaderCore.commitIndex)"
            }
        }
        return nil
    }
}

/// An entry rendered for a digest without reflection (which is slow, and for a `Set` depends on
/// its storage, not only on its elements).
func digestText(_ entry: Entry) -> String {
    let payload: String
    switch entry.payload {
    case .command(let bytes): payload = String(decoding: bytes, as: UTF8.self)
    case .noop: payload = "noop"
    case .configuration(let configuration): payload = describe(configuration)
    case .evictedCommand(let byteCount): payload = "evicted(\(byteCount))"
    }
    return "\(entry.index):\(entry.term):\(payload)"
}

/// A history entry rendered for a digest without reflection.
func digestText(_ entry: HistoryEntry) -> String {
    let operation = String(decoding: KVStateMachine.encode(entry.operation), as: UTF8.self)
    let outcome: String
    switch entry.outcome {
    case nil: outcome = "pending"
    case .failed: outcome = "failed"
    case .unknown: outcome = "unknown"
    case .ok(.read(let value)): outcome = "read \(value.map(String.init) ?? "-")"
    case .ok(.written): outcome = "written"
    case .ok(.cas(let swapped)): outcome = swapped ? "swapped" : "not swapped"
    }
    return "\(entry.id) c\(entry.client) \(operation) \(entry.invokeTime)-\(entry.completeTime.map(String.init) ?? "?") \(outcome)"
}
