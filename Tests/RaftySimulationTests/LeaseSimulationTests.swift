import RaftCore
import RaftySimulation
import Testing

/// Randomized runs aimed at leader leases: late acknowledgements, transfers cut short, paused
/// leaders and staggered loss of contact, with clocks running up to 20 % apart and every read a
/// lease read, checked for linearizability.
///
/// A run's seed is `base * 1000 + nodeCount`. `RAFTY_LEASE_SEEDS=N` runs bases 1...N for each
/// cluster size instead of the CI default; `RAFTY_LEASE_SEED=S` replays the single run S.
@Suite("Lease simulation")
struct LeaseSimulationTests {
    static let environment = ProcessEnvironment()
    static let ciSeedsPerSize = 60

    static func seeds(nodeCount: Int) -> [UInt64] {
        environment.seeds(single: "RAFTY_LEASE_SEED", many: "RAFTY_LEASE_SEEDS", ciDefault: ciSeedsPerSize, nodeCount: nodeCount)
    }

    @Test("Lease reads stay linearizable, 3 and 5 nodes", arguments: [3, 5])
    func leaseRuns(nodeCount: Int) {
        let seeds = Self.seeds(nodeCount: nodeCount)
        var operations = 0
        var completed = 0
        var failures: [SimulationReport] = []
        for report in SeedRunner.map(seeds, { Simulation.leaseRun(seed: $0, nodeCount: nodeCount) }) {
            operations += report.operations
            completed += report.completedOperations
            if !report.passed { failures.append(report) }
        }
        print(
            "lease simulation, \(nodeCount) nodes: \(seeds.count) seeds, \(operations) client operations "
                + "(\(completed) completed) checked for linearizability, \(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
        #expect(failures.isEmpty)
        #expect(seeds.isEmpty || completed > 0)
    }
}
