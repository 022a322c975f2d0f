import RaftCore
import RaftySimulation
import Testing

/// Randomized fault-injection runs: every step checked for safety, every history for linearizability.
///
/// A run's seed is `base * 1000 + nodeCount`. `RAFTY_SIM_SEEDS=N` runs bases 1...N for each
/// cluster size instead of the CI default; `RAFTY_SIM_SEED=S` replays the single run S (the
/// number a failure prints).
@Suite("Randomized simulation")
struct RandomizedSimulationTests {
    static let environment = ProcessEnvironment()
    static let ciSeedsPerSize = 70

    static func seeds(nodeCount: Int) -> [UInt64] {
        environment.seeds(single: "RAFTY_SIM_SEED", many: "RAFTY_SIM_SEEDS", ciDefault: ciSeedsPerSize, nodeCount: nodeCount)
    }

    @Test("Random faults, 3, 4 and 5 nodes", arguments: [3, 4, 5])
    func randomFaults(nodeCount: Int) {
        let seeds = Self.seeds(nodeCount: nodeCount)
        var steps = 0
        var operations = 0
        var committed: UInt64 = 0
        var failures: [SimulationReport] = []
        for report in SeedRunner.map(seeds, { Simulation.randomizedRun(seed: $0, nodeCount: nodeCount) }) {
            steps += report.steps
            operations += report.operations
            committed += report.committedEntries
            if !report.passed { failures.append(report) }
        }
        print(
            "randomized simulation, \(nodeCount) nodes: \(seeds.count) seeds, \(steps) steps, "
                + "\(operations) client operations checked for linearizability, \(committed) entries committed, "
                + "\(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
        #expect(failures.isEmpty)
    }

    @Test("A seed replays exactly")
    func replay() {
        let first = Simulation.randomizedRun(seed: 7003, nodeCount: 3)
        let second = Simulation.randomizedRun(seed: 7003, nodeCount: 3)
        #expect(first.steps == second.steps)
        #expect(first.operations == second.operations)
        #expect(first.committedEntries == second.committedEntries)
        #expect(first.faults == second.faults)
        #expect(first.digest == second.digest)
        print("seed 7003 replay digest \(String(first.digest, radix: 16)) (compare across processes)")
        #expect(first.steps > 1000)
        #expect(first.completedOperations > 100)
    }
}
