import RaftCore
import Rafty

extension NodeSimulation where Workload == KVWorkload {
    /// The disk of a member is wiped before one of its peers ever heard from it — the case a
    /// node cannot catch by remembering the incarnation each peer presented first:
    ///
    /// 1. Node 2 is cut off from the start; one of the others leads, and writes commit on the
    ///    leader and the third node (`W`) alone.
    /// 2. The leader is cut off, `W`'s disk is wiped (it comes back under its id, empty, with a
    ///    new incarnation), and node 2 and `W` can reach each other again.
    /// 3. Node 2 — whose log lacks the committed writes — asks for votes. `W` grants its vote.
    ///
    /// With incarnations recorded in the configuration (``recordIncarnations``, as the runtime
    /// does) node 2 knows `W`'s first incarnation without having heard from it and refuses the new
    /// one: no leader, nothing lost. Without, node 2 learns the new one as the first it sees, wins
    /// with `W`'s vote and overwrites committed entries (the run fails).
    ///
    /// With `identityChecks` off, no node refuses anyone: the run fails the same way.
    package static func unheardWipeRun(seed: UInt64, recordIncarnations: Bool = true, identityChecks: Bool = true) -> NodeSimulationReport {
        var simulation = NodeSimulation(seed: seed, nodeCount: 3)
        simulation.recordIncarnations = recordIncarnations
        simulation.identityChecks = identityChecks
        simulation.lossPercent = 0
        simulation.faultMilliseconds = 0
        simulation.clientRoles = [.leaderChaser, .leaderChaser]
        let lagging: NodeID = 2
        for other: NodeID in [1, 3] {
            simulation.blocked.insert([lagging, other])
            simulation.blocked.insert([other, lagging])
        }
        simulation.setUp()
        var waited: UInt64 = 0
        while simulation.newestLeader == nil, waited < 300, simulation.report.failure == nil {
            simulation.wait(ticks: 10)
            waited += 10
        }
        guard let leader = simulation.newestLeader else {
            simulation.fail("no leader among nodes 1 and 3 after \(waited) ticks")
            return simulation.report
        }
        let wiped: NodeID = leader == 1 ? 3 : 1
        simulation.wait(ticks: 100)  // writes commit on the leader and `wiped`
        for other: NodeID in [lagging, wiped] {
            simulation.blocked.insert([leader, other])
            simulation.blocked.insert([other, leader])
        }
        simulation.wipe(wiped)
        simulation.blocked.remove([lagging, wiped])
        simulation.blocked.remove([wiped, lagging])
        simulation.runEvents(until: simulation.now + 3_000_000)
        return simulation.finish()
    }
}
