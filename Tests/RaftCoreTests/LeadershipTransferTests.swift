import Testing

@testable import RaftCore

@Suite("Leadership transfer")
struct LeadershipTransferTests {
    @Test("Proposals and membership changes are refused while a transfer is in progress")
    func proposalsRefusedDuringTransfer() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.isolate(3)
        try network.propose(1, [1])  // node 3 now lags, so the transfer cannot finish at once
        try network.transferLeadership(1, to: 3)
        #expect(network.node(1).transferTarget == 3)
        #expect { try network.propose(1, [2]) } throws: { ($0 as! RaftCoreError).code == .transferInProgress }
        #expect { try network.proposeConfigurationChange(1, ConfigurationChange(.addLearner, node: 4)) } throws: {
            ($0 as! RaftCoreError).code == .transferInProgress
        }
        #expect(network.node(1).lastIndex == 2)
    }

    @Test("A lost TimeoutNow is sent again at the next heartbeat, so the transfer finishes before its abort")
    func lostTimeoutNowIsResent() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.ignore(.timeoutNow)
        try network.transferLeadership(1, to: 2)  // caught up: TimeoutNow goes out at once, and is lost
        network.stabilize()
        #expect(network.leaders == [1])
        #expect(network.node(1).transferTarget == 2)
        network.recover()
        // Before: nothing was sent again; node 1 kept leading until the transfer was abandoned.
        network.tickAndStabilize([1], times: 1)
        #expect(network.leaders == [2])
        #expect(network.node(2).term == network.node(1).term)
    }

    @Test("A lagging target is brought up to date, then gets TimeoutNow and wins at once without pre-vote")
    func laggingTargetCatchesUpAndWins() throws {
        var network = try TestNetwork(voters: [1, 2, 3])  // pre-vote on
        network.elect(1)
        network.cut(1, 3)
        for byte: UInt8 in 1...3 { try network.propose(1, [byte]) }
        network.stabilize()
        #expect(network.node(1).commitIndex == 4)
        #expect(network.node(3).lastIndex == 1)
        network.recover()

        try network.transferLeadership(1, to: 3)
        #expect(!network.queue.contains { $0.kind == .timeoutNow }, "the target is not up to date yet")
        var sawTimeoutNow = false
        while let message = network.queue.first {
            network.queue.removeFirst()
            if message.kind == .timeoutNow {
                sawTimeoutNow = true
                #expect(network.node(3).lastIndex == network.node(1).lastIndex, "sent only once the target caught up")
                network.deliver(message)
                #expect(network.node(3).role == .candidate, "no pre-vote phase")
                #expect(network.node(3).term == 2)
                let requests = network.queue.filter { $0.from == 3 && $0.kind != .appendResponse }
                #expect(requests.map(\.kind) == [.vote, .vote])
                #expect(requests.allSatisfy { if case .vote(let r) = $0.body { r.isTransfer } else { false } })
            } else {
                network.deliver(message)
            }
        }
        #expect(sawTimeoutNow)
        #expect(network.leaders == [3])
        #expect(network.node(3).term == 2)
        #expect(!network.sent.contains { $0.from == 3 && $0.kind == .preVote })
        #expect(network.node(1).role == .follower)
        #expect(network.node(1).leader == 3)
        // Node 2 had just heard from node 1 and still voted: the transfer overrides its lease.
        #expect(network.storage[2]?.hardState.vote == 3)
        try network.propose(3, [4])
        network.stabilize()
        for id in network.ids { #expect(network.appliedCommands(id) == [[1], [2], [3], [4]]) }
    }

    @Test("An up-to-date target gets TimeoutNow in the same Ready")
    func upToDateTargetImmediately() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        try network.transferLeadership(1, to: 2)
        #expect(network.readyLog[1]?.last?.messages.map(\.kind) == [.timeoutNow])
        network.stabilize()
        #expect(network.leaders == [2])
        #expect(network.node(2).term == 2)
        #expect(network.node(1).transferTarget == nil)
    }

    @Test("A transfer to an unreachable target aborts after an election timeout; proposals are accepted again")
    func unreachableTargetAborts() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.isolate(3)
        try network.transferLeadership(1, to: 3)
        for _ in 0..<9 {
            network.tickAndStabilize()
            #expect(network.node(1).transferTarget == 3)
            #expect(throws: RaftCoreError.self) { try network.propose(1, [1]) }
        }
        network.tickAndStabilize()
        #expect(network.node(1).transferTarget == nil)
        #expect(network.leaders == [1])
        #expect(network.node(1).term == 1)
        try network.propose(1, [1])
        network.stabilize()
        #expect(network.appliedCommands(2) == [[1]])
    }

    @Test("Transfers are checked: only a leader, only to another voter")
    func invalidTransfers() throws {
        var network = try TestNetwork(voters: [1, 2, 3], learners: [4])
        network.elect(1)
        #expect { try network.transferLeadership(2, to: 3) } throws: { ($0 as! RaftCoreError).code == .notLeader }
        #expect { try network.transferLeadership(1, to: 1) } throws: { ($0 as! RaftCoreError).code == .invalidArgument }
        #expect { try network.transferLeadership(1, to: 4) } throws: { ($0 as! RaftCoreError).code == .notVoter }
        #expect { try network.transferLeadership(1, to: 9) } throws: { ($0 as! RaftCoreError).code == .notVoter }
        #expect(network.node(1).transferTarget == nil)
    }

    @Test("A TimeoutNow reaching a learner is ignored")
    func learnerIgnoresTimeoutNow() throws {
        var network = try TestNetwork(voters: [1, 2, 3], learners: [4])
        network.elect(1)
        network.inject(Message(from: 1, to: 4, term: 1, body: .timeoutNow))
        #expect(network.node(4).role == .follower)
        #expect(network.node(4).term == 1)
        #expect(network.queue.isEmpty)
    }
}
