import RaftCore
import RaftySimulation
import Testing

/// Randomized fault-injection runs: every step checked for safety, every history for linearizability.
///
/// `RAFTY_SIM_SEEDS=N` runs N seeds per cluster size instead of the CI default;
/// `RAFTY_SIM_SEED=S` replays one seed.
@Suite("Randomized simulation")
struct RandomizedSimulationTests {
    static let environment = ProcessEnvironment()

    static var seeds: [UInt64] {
        if let seed = environment.value("RAFTY_SIM_SEED").flatMap(UInt64.init) { return [seed] }
        let count = environment.value("RAFTY_SIM_SEEDS").flatMap(Int.init) ?? 150
        return (1...UInt64(max(count, 1))).map { $0 }
    }

    @Test("Random faults, 3 and 5 nodes", arguments: [3, 5])
    func randomFaults(nodeCount: Int) {
        var steps = 0
        var operations = 0
        var failures: [SimulationReport] = []
        for seed in Self.seeds {
            let report = Simulation.randomizedRun(seed: seed &* 1000 &+ UInt64(nodeCount), nodeCount: nodeCount)
            steps += report.steps
            operations += report.operations
            if !report.passed { failures.append(report) }
        }
        print("randomized simulation, \(nodeCount) nodes: \(Self.seeds.count) seeds, \(steps) steps, \(operations) operations checked, \(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
        #expect(failures.isEmpty)
    }
}
