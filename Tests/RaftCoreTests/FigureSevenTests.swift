import Testing

@testable import RaftCore

/// Raft paper, Figure 7: when the leader at the top comes to power in term 8, any of the scenarios
/// (a)–(f) could occur in follower logs. The leader forces every follower's log to equal its own.
@Suite("Raft paper Figure 7: log repair")
struct FigureSevenTests {
    static let leaderTerms: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    /// Followers (a)–(f) are nodes 2–7.
    static let followerTerms: [NodeID: [UInt64]] = [
        2: [1, 1, 1, 4, 4, 5, 5, 6, 6],  // (a) missing an entry
        3: [1, 1, 1, 4],  // (b) missing many entries
        4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  // (c) an extra uncommitted entry
        5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  // (d) extra entries from term 7
        6: [1, 1, 1, 4, 4, 4, 4],  // (e) missing entries, extra term-4 entries
        7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  // (f) entries from terms 2 and 3 nobody else has
    ]

    static func makeNetwork() throws -> TestNetwork {
        var states: [NodeID: RawNode.PersistentState] = [
            1: RawNode.PersistentState(hardState: HardState(term: 7, commit: 3), entries: commandLog(terms: leaderTerms))
        ]
        for (id, terms) in followerTerms {
            states[id] = RawNode.PersistentState(hardState: HardState(term: 7, commit: 3), entries: commandLog(terms: terms))
        }
        return try TestNetwork(membership: ClusterConfiguration(voters: Set(1...7)), states: states) { $0.preVote = false }
    }

    @Test("The leader of term 8 is elected by the up-to-date followers and repairs (a)–(f) to its log")
    func repairsDivergentLogs() throws {
        var network = try Self.makeNetwork()
        // Restarted nodes honour the lease of a leader they may have heard from before; let it pass.
        network.expireLeaderLeases()
        network.campaign(1)
        #expect(network.node(1).role == .candidate)
        #expect(network.node(1).term == 8)
        let requests = network.queue
        #expect(requests.map(\.kind) == Array(repeating: .vote, count: 6))
        #expect(requests.map(\.to) == [2, 3, 4, 5, 6, 7])
        #expect(requests.allSatisfy { $0.body == .vote(VoteRequest(lastLogIndex: 10, lastLogTerm: 6)) })

        network.deliverQueued()
        // (c) and (d) have more up-to-date logs (§5.4.1) and refuse; the rest grant.
        let answers = Dictionary(uniqueKeysWithValues: network.queue.map { ($0.from, $0.grantsVote!) })
        #expect(answers == [2: true, 3: true, 4: false, 5: false, 6: true, 7: true])
        #expect((2...7).allSatisfy { network.node(NodeID($0)).term == 8 })

        network.deliverQueued(where: { $0.kind == .voteResponse })
        #expect(network.node(1).role == .leader)
        // The new leader appends a no-op of its term at index 11 and probes every follower at index 10.
        #expect(network.log(1).last == Entry(term: 8, index: 11, payload: .noop))
        let probes = network.queue.filter { $0.kind == .append }
        #expect(probes.count == 6)
        #expect(probes.allSatisfy { $0.appendRequest?.prevLogIndex == 10 && $0.appendRequest?.prevLogTerm == 6 })

        // (a), (b), (e) and (f) reject the first probe; fast backup jumps over whole terms.
        network.deliverQueued(where: { $0.kind == .append })
        let rejections = network.queue.filter { $0.appendResponse?.rejected == true }
        #expect(rejections.map(\.from) == [2, 3, 6, 7])
        let hints = Dictionary(uniqueKeysWithValues: rejections.map { ($0.from, $0.appendResponse!) })
        #expect(hints[2]?.hintIndex == 9 && hints[2]?.hintTerm == 6)
        #expect(hints[3]?.hintIndex == 4 && hints[3]?.hintTerm == 4)
        #expect(hints[6]?.hintIndex == 7 && hints[6]?.hintTerm == 4)
        #expect(hints[7]?.hintIndex == 10 && hints[7]?.hintTerm == 3)

        network.deliverQueued(where: { $0.kind == .appendResponse })
        // The next probes: (a) at 9, (b) at 4, (e) at 5 (the leader's last term-4 entry), (f) at 3.
        let secondProbes = Dictionary(
            uniqueKeysWithValues: network.queue.filter { $0.kind == .append && $0.to != 4 && $0.to != 5 }
                .map { ($0.to, $0.appendRequest!.prevLogIndex) })
        #expect(secondProbes == [2: 9, 3: 4, 6: 5, 7: 3])

        network.stabilize()
        let expected = commandLog(terms: Self.leaderTerms) + [Entry(term: 8, index: 11, payload: .noop)]
        for id: NodeID in 1...7 {
            #expect(network.log(id) == expected, "node \(id)")
            #expect(network.storage[id]?.entries == expected, "node \(id) storage")
            #expect(network.node(id).commitIndex == 11, "node \(id)")
            #expect(network.applied[id] == expected, "node \(id) applied")
            #expect(network.node(id).term == 8)
            #expect(network.node(id).leader == 1)
        }
        #expect(network.leaders == [1])
    }

    @Test("Stale messages from the old terms cannot undo the repair")
    func repairIsStable() throws {
        var network = try Self.makeNetwork()
        network.expireLeaderLeases()
        network.campaign(1)
        network.stabilize()
        try network.propose(1, [99])
        network.stabilize()
        let log = network.log(1)
        // A leader of term 7 (say, the one that wrote (d)'s entries) re-sends its entries.
        network.inject(
            Message(
                from: 5, to: 2, term: 7,
                body: .append(
                    AppendRequest(
                        prevLogIndex: 10, prevLogTerm: 6,
                        entries: [commandEntry(index: 11, term: 7), commandEntry(index: 12, term: 7)], commit: 12))))
        #expect(network.log(2) == log)
        #expect(network.queue.last?.appendResponse == AppendResponse(index: 0, rejected: true))
        #expect(network.queue.last?.term == 8, "the stale sender learns the new term")
    }
}
