import RaftCore
import Testing

@testable import RaftySimulation

/// Randomized runs of the runtime's own node state machine (NodeEngine) under crashes between
/// storage steps, wiped disks (refused by their peers, as the transport does: `NodeIdentity`),
/// graceful stops with requests in flight, frozen nodes, partitions, lost and late
/// messages, snapshot messages without their bytes and clocks up to 20 % apart; every client
/// history (writes, compare-and-sets, linearizable and lease reads, sent to any node and
/// forwarded by followers) is checked for linearizability.
///
/// A run's seed is `base * 1000 + nodeCount`. `RAFTY_NODE_SEEDS=N` runs bases 1...N for each
/// cluster size instead of the CI default; `RAFTY_NODE_SEED=S` replays the single run S.
@Suite("Node simulation")
struct NodeSimulationTests {
    static let environment = ProcessEnvironment()
    static let ciSeedsPerSize = 70
    static let ciLeaseSeedsPerSize = 40

    static func seeds(nodeCount: Int) -> [UInt64] {
        environment.seeds(single: "RAFTY_NODE_SEED", many: "RAFTY_NODE_SEEDS", ciDefault: ciSeedsPerSize, nodeCount: nodeCount)
    }

    /// Runs `run` for every seed, prints the totals under `label`, records the first failures
    /// with the variable that replays them, and checks that none failed or went unchecked.
    static func runAll(
        _ seeds: [UInt64], nodeCount: Int, label: String, replay: String, _ run: @Sendable (UInt64) -> NodeSimulationReport
    ) -> NodeSimulationReport {
        var total = NodeSimulationReport(seed: 0, nodeCount: nodeCount)
        var failures: [NodeSimulationReport] = []
        for report in SeedRunner.map(seeds, run) {
            total.add(report)
            if report.failure != nil { failures.append(report) }
        }
        print("\(label), \(seeds.count) seeds: \(total); \(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure) — replay: \(replay)=\(failure.seed)") }
        #expect(failures.isEmpty)
        #expect(total.uncheckedHistories == 0, "every history must be settled by the checker")
        return total
    }

    @Test("The real node state machine stays safe and linearizable, 3 and 5 nodes", arguments: [3, 5])
    func nodeRuns(nodeCount: Int) {
        let seeds = Self.seeds(nodeCount: nodeCount)
        let total = Self.runAll(seeds, nodeCount: nodeCount, label: "node simulation", replay: "RAFTY_NODE_SEED") { seed in
            var simulation = NodeSimulation(seed: seed, nodeCount: nodeCount)
            return simulation.run()
        }
        if seeds.count >= 20 {
            // The faults and paths this suite exists for did happen.
            #expect(total.completed > 0 && total.crashesBetweenSteps > 0 && total.stops > 0 && total.freezes > 0)
            #expect(total.snapshotsInstalled > 0 && total.snapshotsWithoutBytes > 0 && total.forwarded > 0 && total.leaseReads > 0)
            #expect(total.snapshotsCaptured > 0 && total.snapshotsCaptured < total.snapshotsTaken && total.hydratedApplies > 0)
            #expect(total.membershipChanges > 0 && total.overloaded > 0 && total.lateForwardAnswers > 0)
            #expect(total.wipes > 0 && total.refusedMessages > 0)
        }
    }

    /// A random run found this first (seed 41003, 1 of 300 CI runs, until a change to the
    /// simulator's schedule moved it; no seed of bases 1...400 shows it now): here the scenario
    /// of ``NodeSimulation/unheardWipeRun(seed:recordIncarnations:identityChecks:)`` forces it.
    @Test("A wiped disk that votes again loses committed entries unless its peers refuse it", arguments: [1, 2] as [UInt64])
    func wipedDiskWithoutIdentityCheck(seed: UInt64) {
        let failed = NodeSimulation.unheardWipeRun(seed: seed, identityChecks: false)
        #expect(failed.wipes == 1 && failed.refusedMessages == 0)
        let failure = failed.failure ?? ""
        #expect(failure.contains("both lead term") || failure.contains("differs from the one applied elsewhere"), "\(failed)")
        let checked = NodeSimulation.unheardWipeRun(seed: seed)
        #expect(checked.wipes == 1 && checked.refusedMessages > 0)
        #expect(checked.failure == nil, "\(checked)")
    }

    /// The gap first-message learning leaves (``NodeSimulation/unheardWipeRun(seed:recordIncarnations:identityChecks:)``):
    /// a member wiped before a peer heard from it. Several seeds, so the leader and timing vary.
    @Test("A member wiped before a peer ever heard from it cannot vote there: its incarnation is in the configuration", arguments: [1, 2, 3, 4] as [UInt64])
    func unheardWipe(seed: UInt64) {
        let unrecorded = NodeSimulation.unheardWipeRun(seed: seed, recordIncarnations: false)
        #expect(unrecorded.wipes == 1, "\(unrecorded)")
        // Its new vote elects a second leader of a term it voted in before, or one that lacks committed entries.
        let failure = unrecorded.failure ?? ""
        #expect(failure.contains("both lead term") || failure.contains("differs from the one applied elsewhere"), "\(unrecorded)")
        let recorded = NodeSimulation.unheardWipeRun(seed: seed)
        #expect(recorded.wipes == 1 && recorded.refusedMessages > 0 && recorded.completed > 0)
        #expect(recorded.failure == nil, "\(recorded)")
    }

    @Test("Leases of the real node state machine hold under late acks, aborted transfers, paused leaders and staggered loss, 3 and 5 nodes", arguments: [3, 5])
    func leaseRuns(nodeCount: Int) {
        let seeds = Self.environment.seeds(
            single: "RAFTY_NODE_LEASE_SEED", many: "RAFTY_NODE_LEASE_SEEDS", ciDefault: Self.ciLeaseSeedsPerSize, nodeCount: nodeCount)
        let total = Self.runAll(seeds, nodeCount: nodeCount, label: "node lease runs", replay: "RAFTY_NODE_LEASE_SEED") { seed in
            NodeSimulation.leaseRun(seed: seed, nodeCount: nodeCount)
        }
        if seeds.count >= 20 { #expect(total.leaseReads > 0 && total.freezes > 0) }
    }
}
