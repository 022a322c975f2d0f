import RaftCore
import Rafty

extension NodeSimulation where Workload == KVWorkload {
    /// Runs the real node state machine through the situations that break leader leases, as
    /// ``Simulation/leaseRun(seed:nodeCount:ticks:clockRateError:)`` does for the core: every node
    /// serves lease reads of one key to readers pinned to it, two writers follow the newest
    /// leader, no message is lost at random, and episodes follow each other until the time is up:
    /// - **late acknowledgements:** the followers' answers to the leader are held back by up to an
    ///   election timeout, then the leader stops reaching them;
    /// - **a transfer cut short:** the TimeoutNow is late, other answers reach the leader late, and
    ///   the target may not reach it at all, so the transfer can abort after the target won;
    /// - **a paused leader:** frozen for up to three election timeouts while the clock runs on,
    ///   often cut off, then thawed with the requests that queued;
    /// - **staggered loss of contact:** the leader and one follower lose each other, a few ticks
    ///   later the leader loses the others (no writes meanwhile, so the first can win).
    ///
    /// Clocks run up to `clockRateError` fast (20 % by default: the lease's drift margin is sized
    /// for it). Nothing crashes here: the general node runs cover crashes.
    package static func leaseRun(seed: UInt64, nodeCount: Int, milliseconds: UInt64 = 4_000) -> NodeSimulationReport {
        var simulation = NodeSimulation(seed: seed, nodeCount: nodeCount)
        simulation.lossPercent = 0
        simulation.faultMilliseconds = milliseconds
        simulation.settleMilliseconds = 1_000
        let preVote = simulation.chance(50)
        for index in simulation.configurations.indices { simulation.configurations[index].preVote = preVote }
        simulation.clientRoles = (0..<2 * nodeCount).map { .pinnedReader(NodeID($0 % nodeCount + 1)) } + [.leaderChaser, .leaderChaser]
        simulation.setUp()
        simulation.runEpisodes()
        simulation.runEvents(until: simulation.faultsEnd + simulation.settleMilliseconds * 1000)
        return simulation.finish()
    }

    mutating func wait(ticks: UInt64) {
        self.runEvents(until: self.now + ticks * Self.tick)
    }

    mutating func runEpisodes() {
        let timeout = UInt64(self.configurations[0].electionTicks)
        let ids = Array(1...NodeID(self.nodeCount))
        while self.report.failure == nil && self.now < self.faultsEnd {
            self.wait(ticks: self.random(3...15))
            guard let leader = self.newestLeader else { continue }
            let followers = ids.filter { $0 != leader }
            switch self.random(0...3) {
            case 0:
                let delay = self.random(1...timeout) * Self.tick
                for follower in followers { self.slowLinks[[follower, leader]] = delay }
                self.wait(ticks: self.random(1...4))
                for follower in followers { self.blocked.insert([leader, follower]) }
                self.wait(ticks: self.random(2 * timeout...3 * timeout))
            case 1:
                let target = followers[Int(self.random(0...UInt64(followers.count - 1)))]
                self.slowLinks[[leader, target]] = self.random(0...timeout) * Self.tick
                let late = self.random(0...timeout) * Self.tick
                for follower in followers where follower != target { self.slowLinks[[follower, leader]] = late }
                if self.chance(50) { self.blocked.insert([target, leader]) }
                self.feed(leader, [self.register(at: leader, op: -1, .transfer(to: target), from: nil)])
                self.wait(ticks: self.random(2 * timeout...3 * timeout))
            case 2:
                let ticks = self.random(2...3 * timeout)
                self.report.freezes += 1
                self.hosts[self.index(leader)].frozen = true
                self.events.push(.thaw(leader), at: self.now + ticks * Self.tick)
                if self.chance(67) {
                    for other in followers {
                        self.blocked.insert([leader, other])
                        self.blocked.insert([other, leader])
                    }
                }
                self.wait(ticks: ticks + self.random(1...timeout))
            default:
                let first = followers[Int(self.random(0...UInt64(followers.count - 1)))]
                self.leaderChasersActive = false
                self.wait(ticks: 2)
                self.blocked.insert([leader, first])
                self.blocked.insert([first, leader])
                self.wait(ticks: self.random(3...timeout))
                for follower in followers where follower != first { self.blocked.insert([leader, follower]) }
                self.leaderChasersActive = true
                self.wait(ticks: self.random(2 * timeout...3 * timeout))
            }
            self.healAll()
        }
    }
}
