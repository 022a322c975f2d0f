import RaftCore

extension Simulation {
    /// Runs a cluster through the situations that break leader leases, over and over, while every
    /// node serves lease reads to readers pinned to it and writers follow the newest leader; then
    /// checks the history for linearizability.
    ///
    /// Each episode is one of:
    /// - **late acknowledgements:** the followers' answers to the leader are held back by up to an
    ///   election timeout, then the leader stops reaching them: acknowledgements keep arriving after
    ///   the followers stopped hearing it;
    /// - **a transfer cut short:** the TimeoutNow is held back, the new leader's messages may never
    ///   reach the old one and other answers reach it late, so the transfer can abort after another
    ///   node won;
    /// - **a paused leader:** frozen for up to three election timeouts while the clock runs on, often
    ///   cut off, then thawed with reads queued;
    /// - **staggered loss of contact:** the leader and one follower stop reaching each other, a few
    ///   ticks later the leader stops reaching the others, so the first campaigns while the others'
    ///   leases are about to end, and the old leader does not hear of it (no writes in between, so
    ///   the first follower's log is as long as theirs).
    ///
    /// Clocks run at rates up to `clockRateError` apart (each node's tick interval is drawn from
    /// `tickInterval ... tickInterval * (1 + clockRateError)`).
    public static func leaseRun(seed: UInt64, nodeCount: Int, ticks: Int = 400, clockRateError: Double = 0.2)
        -> SimulationReport
    {
        var options = SimulationOptions(nodeCount: nodeCount, seed: seed)
        options.clockSkew = 0
        options.clockRateError = clockRateError
        options.leaseReads = true
        options.onlyLeaseReads = true
        var rng = SplitMix64(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        options.preVote = Bool.random(using: &rng)
        var simulation = Simulation(options: options)
        simulation.startClients(0, keys: 1, pinnedReaders: 2 * nodeCount)
        simulation.startLeaderChasers(2)

        var faults: [String] = []
        let end = simulation.now + UInt64(ticks) * options.tickInterval
        let timeout = options.electionTimeout
        func wait(_ ticks: Int) {
            simulation.run(until: simulation.now + UInt64(ticks) * options.tickInterval)
        }
        while simulation.failure == nil && simulation.now < end {
            wait(Int.random(in: 3...15, using: &rng))
            let ids = simulation.nodeIDs
            guard let leader = simulation.leaders.max(by: { $0.term < $1.term })?.id else { continue }
            let followers = ids.filter { $0 != leader }
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:
                let delay = Int.random(in: 1...timeout, using: &rng)
                for follower in followers { simulation.slowLink(from: follower, to: leader, ticks: delay) }
                wait(Int.random(in: 1...4, using: &rng))
                for follower in followers { simulation.blockOneWay(from: leader, to: follower) }
                faults.append("t\(simulation.now) acks to \(leader) late by \(delay) ticks, then \(leader) cut off outbound")
                wait(Int.random(in: 2 * timeout...3 * timeout, using: &rng))
            case 1:
                let target = followers.randomElement(using: &rng)!
                let delay = Int.random(in: 0...timeout, using: &rng)
                let late = Int.random(in: 0...timeout, using: &rng)
                simulation.slowLink(from: leader, to: target, ticks: delay)
                for follower in followers where follower != target {
                    simulation.slowLink(from: follower, to: leader, ticks: late)
                }
                let blocked = Bool.random(using: &rng)
                if blocked { simulation.blockOneWay(from: target, to: leader) }
                let started = (try? simulation.transferLeadership(from: leader, to: target)) != nil
                faults.append(
                    "t\(simulation.now) transfer \(leader)->\(target)\(started ? "" : " refused"), TimeoutNow late by \(delay), "
                        + "answers late by \(late)\(blocked ? ", \(target)->\(leader) blocked" : "")")
                wait(Int.random(in: 2 * timeout...3 * timeout, using: &rng))
            case 2:
                let ticks = Int.random(in: 2...3 * timeout, using: &rng)
                let isolated = Int.random(in: 0..<3, using: &rng) != 0
                simulation.freeze(leader, ticks: ticks)
                if isolated { simulation.isolate(leader) }
                faults.append("t\(simulation.now) freeze leader \(leader) for \(ticks) ticks\(isolated ? ", isolated" : "")")
                wait(ticks + Int.random(in: 1...timeout, using: &rng))
            default:
                let first = followers.randomElement(using: &rng)!
                let gap = Int.random(in: 3...timeout, using: &rng)
                // No writes meanwhile: the first follower's log stays as long as the others', so it can win.
                simulation.setLeaderChasersActive(false)
                wait(2)
                simulation.blockOneWay(from: leader, to: first)
                simulation.blockOneWay(from: first, to: leader)
                wait(gap)
                for follower in followers where follower != first { simulation.blockOneWay(from: leader, to: follower) }
                simulation.setLeaderChasersActive(true)
                faults.append("t\(simulation.now) \(leader) and \(first) cut off, \(gap) ticks later \(leader) from the others")
                wait(Int.random(in: 2 * timeout...3 * timeout, using: &rng))
            }
            simulation.healNetwork()
            faults.append("t\(simulation.now) heal")
        }
        return simulation.finish(
            seed: seed, nodeCount: nodeCount, faults: faults,
            replayCommand: "RAFTY_LEASE_SEED=\(seed) swift test --filter LeaseSimulationTests")
    }
}
