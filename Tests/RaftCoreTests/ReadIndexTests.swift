import Testing

@testable import RaftCore

@Suite("Linearizable reads: ReadIndex")
struct ReadIndexTests {
    static func heartbeatRound(_ message: Message) -> UInt64? {
        if case .heartbeat(let heartbeat) = message.body { return heartbeat.round }
        return nil
    }

    @Test("On the leader a read is answered only after a majority acknowledges a heartbeat round")
    func leaderReadNeedsHeartbeatQuorum() throws {
        var network = try TestNetwork(voters: [1, 2, 3, 4, 5])
        network.elect(1)
        try network.propose(1, [1])
        network.stabilize()
        let commit = network.node(1).commitIndex
        network.readIndex(1, context: 42)
        #expect(network.readStates[1, default: []].isEmpty)
        let heartbeats = network.queue
        #expect(heartbeats.map(\.kind) == [.heartbeat, .heartbeat, .heartbeat, .heartbeat])
        #expect(heartbeats.map { Self.heartbeatRound($0) } == [1, 1, 1, 1])

        network.deliverQueued(where: { $0.to == 2 })
        network.deliverQueued(where: { $0.kind == .heartbeatResponse })
        #expect(network.readStates[1, default: []].isEmpty, "the leader and node 2: 2 of 5")
        // Proposals after the read do not change its index.
        try network.propose(1, [2])
        network.deliverQueued(where: { $0.to == 3 && $0.kind == .heartbeat })
        network.deliverQueued(where: { $0.kind == .heartbeatResponse })
        #expect(network.readStates[1] == [ReadState(context: 42, index: commit)], "3 of 5")
    }

    @Test("Acknowledgements of heartbeats sent before the read do not confirm it")
    func olderRoundsDoNotConfirm() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.tick(1)  // a periodic heartbeat, round 0
        let periodic = network.take(where: { $0.kind == .heartbeat })
        #expect(periodic.map { Self.heartbeatRound($0) } == [0, 0])
        network.readIndex(1, context: 7)
        for message in periodic { network.deliver(message) }
        network.deliverQueued(where: { $0.kind == .heartbeatResponse })
        #expect(network.readStates[1, default: []].isEmpty)
        network.stabilize()
        #expect(network.readStates[1] == [ReadState(context: 7, index: 1)])
    }

    @Test("Reads issued before the same Ready share one heartbeat round")
    func readsShareARound() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.nodes[1]!.readIndex(context: 1)
        network.nodes[1]!.readIndex(context: 2)
        network.processReady(1)
        #expect(network.queue.count == 2)
        network.stabilize()
        #expect(network.readStates[1] == [ReadState(context: 1, index: 1), ReadState(context: 2, index: 1)])
    }

    @Test("A read issued on a follower is confirmed by the leader and answered to the follower")
    func followerReadGoesThroughLeader() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        try network.propose(1, [5])
        network.stabilize()
        network.readIndex(2, context: 9)
        #expect(network.queue.map(\.kind) == [.readIndex])
        #expect(network.queue.first?.to == 1)
        network.deliverQueued()
        #expect(network.queue.allSatisfy { $0.kind == .heartbeat })
        network.deliverQueued()
        #expect(network.queue.allSatisfy { $0.kind == .heartbeatResponse })
        network.deliverQueued()
        let answer = try #require(network.queue.first)
        #expect(answer.body == .readIndexResponse(context: 9, index: 2))
        network.stabilize()
        #expect(network.readStates[2] == [ReadState(context: 9, index: 2)])
        #expect(network.readStates[1, default: []].isEmpty)
    }

    @Test("A follower that knows no leader drops the read at once")
    func followerWithoutLeaderDropsRead() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.readIndex(2, context: 3)
        #expect(network.droppedReads[2] == [3])
        #expect(network.queue.isEmpty)
    }

    @Test("A new leader defers reads until it commits an entry of its own term")
    func newLeaderDefersReads() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        try network.propose(1, [1])
        network.stabilize()
        network.stop(1)
        network.expireLeaderLeases()
        network.campaign(2)
        // Deliver the election only, not the new leader's appends.
        while network.node(2).role != .leader {
            network.deliverQueued(where: { $0.kind != .append })
        }
        #expect(network.node(2).term == 2)
        #expect(network.node(2).commitIndex == 2, "the old leader's entry; nothing of term 2 yet")
        network.readIndex(2, context: 11)
        network.readIndex(2, context: 12, lease: true)
        #expect(!network.queue.contains { $0.kind == .heartbeat }, "no confirmation round yet")
        #expect(network.readStates[2, default: []].isEmpty)
        // A follower's read waits too. Node 3 learns of the leader from its append, whose answer is lost.
        network.deliverQueued(where: { $0.kind == .append && $0.to == 3 })
        network.take(where: { $0.kind == .appendResponse })
        #expect(network.node(3).leader == 2)
        #expect(network.node(2).commitIndex == 2)
        network.readIndex(3, context: 13)
        network.deliverQueued(where: { $0.kind == .readIndex })
        #expect(!network.queue.contains { $0.kind == .heartbeat || $0.kind == .readIndexResponse })

        // The next heartbeat round makes the leader resend the lost append; the no-op commits.
        network.tickAndStabilize([2, 3])
        #expect(network.node(2).commitIndex == 3)
        #expect(network.readStates[2] == [ReadState(context: 11, index: 3), ReadState(context: 12, index: 3)])
        #expect(network.readStates[3] == [ReadState(context: 13, index: 3)])
    }

    @Test("A leader that steps down drops its pending reads")
    func steppingDownDropsReads() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.isolate(1)
        network.readIndex(1, context: 5)
        network.tickAndStabilize([1], times: 20)  // check-quorum deposes it
        #expect(network.node(1).role != .leader)
        #expect(network.droppedReads[1] == [5])
        #expect(network.readStates[1, default: []].isEmpty)
    }

    @Test("A single-voter leader answers reads at once")
    func singleVoter() throws {
        var network = try TestNetwork(voters: [1])
        network.campaign(1)
        network.stabilize()
        network.readIndex(1, context: 1)
        #expect(network.readStates[1] == [ReadState(context: 1, index: 1)])
    }
}

@Suite("Linearizable reads: leases")
struct LeaseReadTests {
    /// A 3-node cluster whose leader (node 1) has a valid lease: it was ticked with every heartbeat acknowledged.
    static func leasedCluster() throws -> TestNetwork {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.tickAndStabilize(times: 3)
        #expect(network.node(1).leaseIsValid)
        return network
    }

    @Test("While the lease is valid a lease read is answered at once, without messages")
    func leaseReadIsImmediate() throws {
        var network = try Self.leasedCluster()
        let commit = network.node(1).commitIndex
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1] == [ReadState(context: 1, index: commit)])
        #expect(network.queue.isEmpty)
        // Without `lease` the same leader still runs a heartbeat round.
        network.readIndex(1, context: 2)
        #expect(network.readStates[1]?.count == 1)
        #expect(network.queue.count == 2)
    }

    @Test("A partitioned leader's lease expires: it falls back to ReadIndex and is never confirmed")
    func partitionedLeaderLeaseExpires() throws {
        var network = try Self.leasedCluster()
        let lastAcked = network.node(1).tickCount
        network.isolate(1)
        let leaseTicks = UInt64(network.node(1).options.electionTimeout - network.node(1).options.leaseDriftMargin)
        network.tickAndStabilize(times: Int(leaseTicks) - 1)
        #expect(network.node(1).tickCount == lastAcked + leaseTicks - 1)
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1] == [ReadState(context: 1, index: 1)], "still inside the lease")

        network.tickAndStabilize()
        #expect(network.node(1).role == .leader)
        #expect(!network.node(1).leaseIsValid)
        network.readIndex(1, context: 2, lease: true)
        #expect(network.readStates[1]?.count == 1, "the lease expired: no answer at once")
        #expect(network.queue.filter { $0.from == 1 }.map(\.kind) == [.heartbeat, .heartbeat], "fell back to a heartbeat round")

        // The majority elects a new leader and commits a write; the old leader never confirms the read.
        var rounds = 0
        while !network.leaders.contains(where: { $0 != 1 }) {
            network.tickAndStabilize()
            rounds += 1
            try #require(rounds < 50)
        }
        let newLeader = try #require(network.leaders.first { $0 != 1 })
        try network.propose(newLeader, [7])
        network.tickAndStabilize(times: 30)
        #expect(network.appliedCommands(newLeader) == [[7]])
        #expect(network.readStates[1]?.count == 1)
        #expect(network.droppedReads[1] == [2], "failed once the old leader stepped down")
        #expect(network.node(1).role != .leader)
    }

    /// The clock assumption of leases: clocks may run up to 20 % apart. Worst case: the leader
    /// ticked just before it sent the heartbeat a follower acknowledged, the follower ticks just
    /// after receiving it, and the follower's clock runs 1.2 times as fast. When that follower has
    /// ticked a full election timeout (10 ticks, at time 9 + ε) and may vote, the leader has ticked
    /// only 7 times (7 × 1.2 = 8.4): its lease must already be over. (With a drift margin of 2 it
    /// lasted 8 ticks, to 9.6, and the old leader answered a lease read after a new leader had
    /// committed a write.)
    @Test("Clocks 20 % apart: the lease is over before a follower that acknowledged it may vote")
    func leaseCoversClockRateError() throws {
        var network = try Self.leasedCluster()
        let electionTimeout = network.node(2).options.electionTimeout
        network.isolate(1)
        network.tick(2, times: electionTimeout)
        network.tick(3, times: electionTimeout)
        let leaderTicks = Int((Double(electionTimeout - 1) / 1.2).rounded(.down))
        network.tick(1, times: leaderTicks)
        #expect(network.node(1).role == .leader, "check-quorum has not deposed it yet")

        // Node 3's timer fires: node 2, out of its lease guard, votes for it; it commits a write.
        network.campaign(3)
        network.stabilize()
        try #require(network.leaders.contains(3))
        try network.propose(3, [9])
        network.stabilize()
        #expect(network.appliedCommands(3) == [[9]])

        #expect(!network.node(1).leaseIsValid)
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1, default: []].isEmpty, "the old leader answered a lease read after a new leader's write")
    }

    @Test("A leader that started a leadership transfer serves no lease read, and a partitioned one never confirms")
    func transferVoidsLease() throws {
        var network = try Self.leasedCluster()
        try network.transferLeadership(1, to: 3)
        let timeoutNow = try #require(network.queue.first { $0.kind == .timeoutNow })
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1, default: []].isEmpty)
        // TimeoutNow reaches node 3, then node 1 is cut off before anything else.
        network.take(where: { _ in true })
        network.deliver(timeoutNow)
        network.isolate(1)
        network.stabilize()
        #expect(network.leaders.contains(3))
        #expect(network.node(3).term == 2)
        try network.propose(3, [1])
        network.stabilize()
        #expect(network.node(2).commitIndex == 3)
        // Node 1 still believes it leads term 1 but cannot answer the read, by lease or otherwise.
        #expect(network.node(1).role == .leader)
        #expect(network.node(1).term == 1)
        network.readIndex(1, context: 2, lease: true)
        for _ in 0..<30 {
            network.tickAndStabilize()
            #expect(network.readStates[1, default: []].isEmpty)
        }
        #expect(network.droppedReads[1] == [1, 2])
    }

    @Test("Lease reads need check-quorum: without it they fall back to ReadIndex")
    func leaseNeedsCheckQuorum() throws {
        var network = try TestNetwork(voters: [1, 2, 3]) { $0.checkQuorum = false }
        network.elect(1)
        network.tickAndStabilize(times: 3)
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1, default: []].isEmpty)
        network.stabilize()
        #expect(network.readStates[1] == [ReadState(context: 1, index: 1)])
    }

    @Test("Acknowledgements with a forged future send tick do not extend the lease")
    func forgedSendTickIsIgnored() throws {
        var network = try Self.leasedCluster()
        network.isolate(1)
        let now = network.node(1).tickCount
        network.inject(Message(from: 2, to: 1, term: 1, body: .heartbeatResponse(HeartbeatResponse(round: 0, sentTick: now + 1_000))))
        network.inject(Message(from: 2, to: 1, term: 1, body: .heartbeatResponse(HeartbeatResponse(round: 0, sentTick: .max))))
        network.tickAndStabilize([1], times: 8)
        #expect(!network.node(1).leaseIsValid)
        network.readIndex(1, context: 1, lease: true)
        #expect(network.readStates[1, default: []].isEmpty)
    }

    @Test("No other leader is elected while the old leader's lease is valid, even if a follower restarts", arguments: [false, true])
    func noNewLeaderDuringLease(restartFollower: Bool) throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.tickAndStabilize(times: 3)
        if restartFollower {
            // Node 2 acknowledged the last heartbeat, then crashes and comes back at once.
            network.stop(2)
            try network.start(2)
        }
        network.isolate(1)
        var leaseRounds = 0
        var newLeaderRound: Int?
        for round in 0..<60 {
            network.tickAndStabilize()
            let others = network.leaders.filter { $0 != 1 }
            if network.node(1).leaseIsValid {
                leaseRounds += 1
                #expect(others.isEmpty, "round \(round): node \(others) leads while node 1 holds a lease")
                #expect(network.node(2).term == 1 && network.node(3).term == 1)
            }
            if !others.isEmpty && newLeaderRound == nil { newLeaderRound = round }
        }
        #expect(leaseRounds > 0)
        #expect(newLeaderRound != nil, "the majority does elect a new leader once the lease is over")
    }
}
