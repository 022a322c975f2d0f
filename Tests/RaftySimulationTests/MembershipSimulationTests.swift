import RaftCore
import RaftySimulation
import Testing

/// Membership changes in the deterministic simulator: named scenarios, then randomized runs where
/// the leader is asked to add, promote, demote and remove members (itself included) under faults.
///
/// Every scenario and run checks the simulator's safety invariants after every step, including the
/// membership ones (only voters campaign or newly lead, a leader holds at most one uncommitted
/// change and steps down once its removal commits, snapshots record the committed configuration).
///
/// A randomized run's seed is `base * 1000 + initialVoters`. `RAFTY_SIM_MEMBERSHIP_SEEDS=N` runs
/// bases 1...N for each size instead of the CI default; `RAFTY_SIM_MEMBERSHIP_SEED=S` replays run S
/// (the number a failure prints, with the command).
@Suite("Membership simulation")
struct MembershipSimulationTests {
    static let environment = ProcessEnvironment()
    static let ciSeedsPerSize = 60

    // MARK: - Helpers

    struct ScenarioFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func options(slots: Int, voters: Int, seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions(nodeCount: slots, seed: seed)
        options.initialVoters = voters
        return options
    }

    /// Runs one tick at a time until `condition` holds (or `ticks` pass, or a violation stops the run).
    @discardableResult
    static func run(_ sim: inout Simulation, ticks: Int = 300, until condition: (Simulation) -> Bool) -> Bool {
        for _ in 0..<ticks {
            if condition(sim) || sim.failure != nil { break }
            sim.run(ticks: 1)
        }
        return condition(sim)
    }

    /// Waits for a leader that committed an entry of its term (so it accepts membership changes).
    static func stableLeader(_ sim: inout Simulation, excluding excluded: Set<NodeID> = []) throws -> NodeID {
        let found = Self.run(&sim) { sim in
            guard let leader = sim.currentLeader, !excluded.contains(leader), let core = sim.core(leader) else { return false }
            return core.term(at: core.commitIndex) == core.term
        }
        guard found, let leader = sim.currentLeader else {
            throw ScenarioFailure(description: "no stable leader\n\(sim.describeNodes())\(Self.violation(sim))")
        }
        return leader
    }

    /// Writes `value` to key `k` through the current leader and waits until it is committed.
    @discardableResult
    static func write(_ sim: inout Simulation, _ value: Int) throws -> UInt64 {
        let leader = try Self.stableLeader(&sim)
        let command = KVStateMachine.encode(.write(key: "k", value: value))
        guard let proposal = sim.propose(command, at: leader) else {
            throw ScenarioFailure(description: "leader \(leader) refused a write")
        }
        let (index, term) = proposal
        let committed = Self.run(&sim) { $0.committedEntry(at: index)?.term == term }
        guard committed else {
            throw ScenarioFailure(description: "write \(value) at \(index) did not commit\n\(sim.describeNodes())\(Self.violation(sim))")
        }
        return index
    }

    /// Proposes a change through the current leader and waits until it is committed.
    @discardableResult
    static func change(_ sim: inout Simulation, _ change: ConfigurationChange) throws -> UInt64 {
        let leader = try Self.stableLeader(&sim)
        let (index, term) = try sim.proposeConfigurationChange(change, at: leader)
        let committed = Self.run(&sim) { $0.committedEntry(at: index)?.term == term }
        guard committed else {
            throw ScenarioFailure(description: "\(change) at \(index) did not commit\n\(sim.describeNodes())\(Self.violation(sim))")
        }
        return index
    }

    /// Waits until every member of the committed configuration runs and applied everything the
    /// leader committed, under one leader, with the same latest configuration.
    static func converge(_ sim: inout Simulation) throws {
        let converged = Self.run(&sim) { sim in
            guard let leader = sim.currentLeader, let core = sim.core(leader) else { return false }
            return sim.committedConfiguration.members.allSatisfy { id in
                guard let member = sim.core(id) else { return false }
                return sim.appliedIndex(id) == core.commitIndex && member.configuration == sim.committedConfiguration
                    && member.term == core.term
            }
        }
        if !converged {
            throw ScenarioFailure(description: "members did not converge\n\(sim.describeNodes())\(Self.violation(sim))")
        }
    }

    static func violation(_ sim: Simulation) -> String { sim.failure.map { "\n\($0)" } ?? "" }

    static func committedEntries(_ sim: Simulation, through index: UInt64) -> [Entry?] {
        (1...max(1, index)).map { sim.committedEntry(at: $0) }
    }

    // MARK: - Named scenarios

    @Test("Removing the leader: it leads until the removal commits, then leadership moves on and nothing committed is lost")
    func removeLeader() throws {
        var sim = Simulation(options: Self.options(slots: 3, voters: 3, seed: 41))
        let leader = try Self.stableLeader(&sim)
        for value in 1...5 { try Self.write(&sim, value) }
        let before = sim.highestCommittedIndex
        let committedBefore = Self.committedEntries(sim, through: before)

        let (index, term) = try sim.proposeConfigurationChange(ConfigurationChange(.remove, node: leader), at: leader)
        #expect(sim.core(leader)?.role == .leader, "a removed leader keeps leading until the removal commits")
        #expect(sim.core(leader)?.isVoter == false, "the removal is in force as soon as it is appended")
        Self.run(&sim) { $0.committedEntry(at: index)?.term == term }
        #expect(sim.committedConfigurationIndex == index)
        #expect(!sim.committedConfiguration.contains(leader))

        let next = try Self.stableLeader(&sim, excluding: [leader])
        #expect(next != leader)
        #expect(sim.committedConfiguration.voters.contains(next))
        #expect(sim.core(leader)?.role == .follower)
        for value in 6...8 { try Self.write(&sim, value) }
        #expect(Self.committedEntries(sim, through: before) == committedBefore)

        // The removed node keeps running, never campaigns and never disturbs the others.
        let removedTerm = sim.core(leader)?.term
        let leaderTerm = sim.core(next)?.term
        sim.run(ticks: 100)
        #expect(sim.core(leader)?.role == .follower)
        #expect(sim.core(leader)?.term == removedTerm)
        #expect(sim.currentLeader == next && sim.core(next)?.term == leaderTerm)
        try Self.converge(&sim)
        #expect(sim.stateMachine(next) == sim.stateMachine(sim.committedConfiguration.sortedVoters.first { $0 != next }!))
        #expect(sim.failure == nil, "\(Self.violation(sim))")
    }

    @Test("Adding a node while a follower is down: the new quorum is in force and the cluster still commits")
    func addWhileFollowerDown() throws {
        var sim = Simulation(options: Self.options(slots: 5, voters: 3, seed: 42))
        let leader = try Self.stableLeader(&sim)
        try Self.write(&sim, 1)
        let down = sim.committedConfiguration.sortedVoters.first { $0 != leader }!
        sim.crash(down)

        try Self.change(&sim, ConfigurationChange(.addLearner, node: 4))
        #expect(sim.committedConfiguration == ClusterConfiguration(voters: [1, 2, 3], learners: [4]))
        Self.run(&sim) { sim in sim.appliedIndex(4) == sim.core(sim.currentLeader ?? 1)?.commitIndex }
        try Self.change(&sim, ConfigurationChange(.promote, node: 4))
        #expect(sim.committedConfiguration.voters == [1, 2, 3, 4])
        // Three of the four voters run: still a quorum.
        try Self.write(&sim, 2)

        // With the new node down too, two of four voters are not a quorum: nothing commits.
        sim.crash(4)
        let current = try Self.stableLeader(&sim)
        let proposal = sim.propose(KVStateMachine.encode(.write(key: "k", value: 3)), at: current)
        let index = try #require(proposal).index
        sim.run(ticks: 50)
        #expect(sim.committedEntry(at: index) == nil, "committed by 2 of 4 voters")
        #expect(sim.currentLeader == nil, "a leader without a quorum steps down (check-quorum)")

        sim.restart(4)
        sim.restart(down)
        try Self.write(&sim, 4)
        try Self.converge(&sim)
        #expect(sim.failure == nil, "\(Self.violation(sim))")
    }

    @Test("A change cut off by a leader crash before anyone else has it is discarded everywhere")
    func cutOffChangeIsDiscarded() throws {
        var sim = Simulation(options: Self.options(slots: 4, voters: 3, seed: 43))
        let leader = try Self.stableLeader(&sim)
        try Self.write(&sim, 1)
        sim.isolate(leader)
        let (index, _) = try sim.proposeConfigurationChange(ConfigurationChange(.addLearner, node: 4), at: leader)
        #expect(sim.core(leader)?.configuration.learners == [4])
        sim.crash(leader)
        sim.reconnect(leader)

        let next = try Self.stableLeader(&sim, excluding: [leader])
        try Self.write(&sim, 2)
        sim.restart(leader)
        try Self.converge(&sim)
        #expect(sim.committedConfiguration == ClusterConfiguration(voters: [1, 2, 3]))
        #expect(sim.configurationHistory.isEmpty)
        for id: NodeID in [1, 2, 3] {
            #expect(sim.core(id)?.configuration == ClusterConfiguration(voters: [1, 2, 3]), "node \(id)")
        }
        if case .configuration = sim.committedEntry(at: index)?.payload { Issue.record("the cut-off change committed") }
        #expect(sim.core(4)?.lastIndex == 0, "the node that was never added heard nothing")
        _ = next
        #expect(sim.failure == nil, "\(Self.violation(sim))")
    }

    @Test("A change cut off by a leader crash after one follower appended it is completed by the next leader")
    func cutOffChangeIsCompleted() throws {
        var sim = Simulation(options: Self.options(slots: 4, voters: 3, seed: 44))
        let leader = try Self.stableLeader(&sim)
        try Self.write(&sim, 1)
        let voters = sim.committedConfiguration.sortedVoters.filter { $0 != leader }
        let (holder, other) = (voters[0], voters[1])
        // The change reaches `holder` only, and its acknowledgement never comes back.
        sim.partition([[leader, holder], [other, 4]])
        sim.blockOneWay(from: holder, to: leader)
        let (index, term) = try sim.proposeConfigurationChange(ConfigurationChange(.addLearner, node: 4), at: leader)
        Self.run(&sim, ticks: 5) { $0.core(holder)?.configuration.learners == [4] }
        #expect(sim.core(holder)?.configuration.learners == [4])
        #expect(sim.core(other)?.configuration.learners == [])
        #expect(sim.committedEntry(at: index) == nil)
        sim.crash(leader)
        sim.healNetwork()

        // Only `holder` can win (its log is longer, and `other` needs its vote); its first commit
        // commits the change too.
        let next = try Self.stableLeader(&sim, excluding: [leader])
        #expect(next == holder)
        #expect(sim.committedEntry(at: index)?.term == term)
        #expect(sim.committedConfiguration == ClusterConfiguration(voters: [1, 2, 3], learners: [4]))
        sim.restart(leader)
        try Self.write(&sim, 2)
        try Self.converge(&sim)
        #expect(sim.stateMachine(4) == sim.stateMachine(holder))
        #expect(sim.failure == nil, "\(Self.violation(sim))")
    }

    @Test("A learner far behind gets a snapshot, catches up, and is promoted")
    func farBehindLearnerGetsSnapshot() throws {
        var options = Self.options(slots: 4, voters: 3, seed: 45)
        options.snapshotThreshold = 10
        options.trailingEntries = 3
        var sim = Simulation(options: options)
        for value in 1...30 { try Self.write(&sim, value) }
        // A brand-new node: the log it needs was compacted away.
        try Self.change(&sim, ConfigurationChange(.addLearner, node: 4))
        Self.run(&sim) { sim in sim.appliedIndex(4) == sim.core(sim.currentLeader ?? 1)?.commitIndex }
        let joinedBySnapshot = sim.snapshotsInstalled(on: 4)
        #expect(joinedBySnapshot >= 1)

        // Cut off, it falls far behind again, then catches up with another snapshot.
        sim.isolate(4)
        for value in 31...60 { try Self.write(&sim, value) }
        let leader = try Self.stableLeader(&sim)
        #expect(sim.core(leader)!.firstIndex > sim.appliedIndex(4) + 1, "the entries node 4 needs are compacted")
        sim.reconnect(4)
        let caughtUp = Self.run(&sim) { sim in sim.appliedIndex(4) == sim.core(sim.currentLeader ?? 1)?.commitIndex }
        #expect(caughtUp)
        #expect(sim.snapshotsInstalled(on: 4) > joinedBySnapshot)
        #expect(sim.stateMachine(4) == sim.stateMachine(leader))

        try Self.change(&sim, ConfigurationChange(.promote, node: 4))
        #expect(sim.committedConfiguration.voters == [1, 2, 3, 4])
        // Its acknowledgement now counts: with one old voter down, the leader needs it for a quorum (3 of 4).
        let downs = sim.committedConfiguration.sortedVoters.filter { $0 != leader && $0 != 4 }
        sim.crash(downs[0])
        try Self.write(&sim, 61)
        sim.restart(downs[0])
        try Self.converge(&sim)
        #expect(sim.failure == nil, "\(Self.violation(sim))")
    }

    // MARK: - Randomized

    static func seeds(nodeCount: Int) -> [UInt64] {
        environment.seeds(single: "RAFTY_SIM_MEMBERSHIP_SEED", many: "RAFTY_SIM_MEMBERSHIP_SEEDS", ciDefault: ciSeedsPerSize, nodeCount: nodeCount)
    }

    @Test("Random membership changes under faults, 3 and 5 initial voters", arguments: [3, 5])
    func randomMembership(nodeCount: Int) {
        let seeds = Self.seeds(nodeCount: nodeCount)
        var steps = 0
        var operations = 0
        var changes = 0
        var failures: [SimulationReport] = []
        var finalVoters: [Int: Int] = [:]
        for report in SeedRunner.map(seeds, { Simulation.randomizedMembershipRun(seed: $0, nodeCount: nodeCount) }) {
            steps += report.steps
            operations += report.operations
            changes += report.configurationChanges
            finalVoters[report.finalConfiguration?.voters.count ?? 0, default: 0] += 1
            if !report.passed { failures.append(report) }
        }
        print(
            "membership simulation, \(nodeCount) initial voters: \(seeds.count) seeds, \(steps) steps, "
                + "\(operations) client operations, \(changes) membership changes committed, final voter counts "
                + "\(finalVoters.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }), \(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
        #expect(failures.isEmpty)
    }

    @Test("A membership seed replays exactly")
    func replay() {
        let first = Simulation.randomizedMembershipRun(seed: 7003, nodeCount: 3)
        let second = Simulation.randomizedMembershipRun(seed: 7003, nodeCount: 3)
        #expect(first.passed, "\(first)")
        #expect(first.steps == second.steps)
        #expect(first.faults == second.faults)
        #expect(first.digest == second.digest)
        #expect(first.configurationChanges > 0)
        print("membership seed 7003 replay digest \(String(first.digest, radix: 16)) (compare across processes): \(first)")
    }
}
