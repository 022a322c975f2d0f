import Testing

@testable import RaftCore

/// Raft paper, Figure 8: a leader cannot conclude that an entry from an earlier term is committed
/// because it is stored on a majority; only entries of its own term are committed by counting
/// replicas, and earlier entries become committed with them (§5.4.2).
@Suite("Raft paper Figure 8: committing entries from earlier terms")
struct FigureEightTests {
    /// Figure 8 (b): S1 led term 2 and wrote index 2 on S1 and S2 before crashing; S5 was elected in
    /// term 3 by S3, S4, S5, wrote index 2 of term 3 locally, and crashed. Then (c): S1 restarts and is
    /// elected in term 4 (its no-op is the term-4 entry at index 3) and replicates index 2 to S3 and
    /// S4 — a majority with S1 — but has not yet got index 3 to anyone.
    static func reachFigureC() throws -> TestNetwork {
        let one: Entry = commandEntry(index: 1, term: 1)
        let states: [NodeID: RawNode.PersistentState] = [
            1: RawNode.PersistentState(hardState: HardState(term: 3, commit: 1), entries: [one, commandEntry(index: 2, term: 2)]),
            2: RawNode.PersistentState(hardState: HardState(term: 2, vote: 1, commit: 1), entries: [one, commandEntry(index: 2, term: 2)]),
            3: RawNode.PersistentState(hardState: HardState(term: 3, vote: 5, commit: 1), entries: [one]),
            4: RawNode.PersistentState(hardState: HardState(term: 3, vote: 5, commit: 1), entries: [one]),
            5: RawNode.PersistentState(hardState: HardState(term: 3, vote: 5, commit: 1), entries: [one, commandEntry(index: 2, term: 3)]),
        ]
        var network = try TestNetwork(membership: ClusterConfiguration(voters: [1, 2, 3, 4, 5]), states: states) {
            $0.preVote = false
            $0.maxAppendEntries = 1  // one entry per append, so index 2 and index 3 travel separately
        }
        network.expireLeaderLeases()
        network.campaign(1)
        network.deliverQueued()
        let votes = Dictionary(uniqueKeysWithValues: network.queue.map { ($0.from, $0.grantsVote!) })
        #expect(votes == [2: true, 3: true, 4: true, 5: false], "S5's last entry has a higher term")
        network.deliverQueued()
        #expect(network.node(1).role == .leader)
        #expect(network.node(1).term == 4)
        #expect(network.log(1).last == Entry(term: 4, index: 3, payload: .noop))

        // S2 and S5 hear nothing more from S1.
        network.cut(1, 2)
        network.cut(1, 5)
        // S3 and S4 reject the probe at index 2 and get index 2 alone; index 3 is held back.
        network.deliverQueued(where: { $0.kind == .append })
        network.deliverQueued(where: { $0.kind == .appendResponse })
        let indexTwo = network.take(where: { $0.kind == .append })
        #expect(indexTwo.map(\.to) == [3, 4])
        #expect(indexTwo.allSatisfy { $0.appendRequest?.entries == [commandEntry(index: 2, term: 2)] })
        for message in indexTwo { network.deliver(message) }
        network.deliverQueued(where: { $0.kind == .appendResponse })
        return network
    }

    /// The appends carrying index 3 that S1 sent to S3 and S4.
    static func indexThreeAppends(_ network: inout TestNetwork) -> [Message] {
        network.take(where: { $0.kind == .append && $0.appendRequest?.entries.first?.index == 3 })
    }

    @Test("An entry of an earlier term stored on a majority is not committed by counting replicas")
    func oldTermEntryOnMajorityIsNotCommitted() throws {
        var network = try Self.reachFigureC()
        // S1, S3 and S4 (three of five) store index 2 and S1 knows it ...
        #expect(network.node(1).status.matchIndex[3] == 2)
        #expect(network.node(1).status.matchIndex[4] == 2)
        for id: NodeID in [1, 3, 4] { #expect(network.node(id).term(at: 2) == 2) }
        // ... but it is from term 2, so nothing past index 1 is committed or applied.
        #expect(network.node(1).commitIndex == 1)
        #expect(network.applied[1]?.map(\.index) == [1])
        let appends = Self.indexThreeAppends(&network)
        #expect(appends.allSatisfy { $0.appendRequest?.commit == 1 })
        network.tick(1)
        #expect(network.queue.compactMap { if case .heartbeat(let h) = $0.body { h.commit } else { nil } }.allSatisfy { $0 <= 1 })
    }

    @Test("Figure 8 (d): the uncommitted entry is legitimately overwritten by S5 in term 5")
    func uncommittedEntryIsOverwritten() throws {
        var network = try Self.reachFigureC()
        _ = Self.indexThreeAppends(&network)  // lost
        network.stop(1)
        network.queue.removeAll()
        network.recover()
        network.expireLeaderLeases()
        // S5 learned term 4 from S1's vote request; in term 5, S2, S3 and S4 vote for it: its last
        // entry (term 3) beats theirs (term 2).
        #expect(network.node(5).term == 4)
        network.campaign(5)
        #expect(network.node(5).term == 5)
        network.deliverQueued()
        #expect(network.queue.filter { $0.kind == .voteResponse }.allSatisfy { $0.grantsVote == true })
        network.stabilize()
        #expect(network.node(5).role == .leader)
        #expect(network.node(5).term == 5)
        let expected = [commandEntry(index: 1, term: 1), commandEntry(index: 2, term: 3), Entry(term: 5, index: 3, payload: .noop)]
        for id: NodeID in [2, 3, 4, 5] {
            #expect(network.log(id) == expected, "node \(id)")
            #expect(network.node(id).commitIndex == 3)
            // Index 2 of term 2 was never applied anywhere: the overwrite broke no promise.
            #expect(network.applied[id] == expected)
        }
        #expect(network.applied[1]?.map(\.index) == [1])
    }

    @Test("Figure 8 (e): once an entry of the current term is on a majority, it commits the older entry with it")
    func currentTermEntryCommitsOlderOnes() throws {
        var network = try Self.reachFigureC()
        let appends = Self.indexThreeAppends(&network)
        #expect(appends.map(\.to) == [3, 4])
        network.deliver(appends[0])  // S3
        network.deliverQueued(where: { $0.kind == .appendResponse })
        #expect(network.node(1).commitIndex == 1, "index 3 is on two of five nodes only")
        network.deliver(appends[1])  // S4
        network.deliverQueued(where: { $0.kind == .appendResponse })
        #expect(network.node(1).commitIndex == 3, "index 3 (term 4) is on a majority: it and index 2 commit")
        #expect(network.applied[1] == [commandEntry(index: 1, term: 1), commandEntry(index: 2, term: 2), Entry(term: 4, index: 3, payload: .noop)])
        network.stabilize()
        for id: NodeID in [3, 4] { #expect(network.node(id).commitIndex == 3) }

        // Now S5 can never be elected: S3 and S4 have a more up-to-date log.
        network.stop(1)
        network.queue.removeAll()
        network.recover()
        network.expireLeaderLeases()
        network.campaign(5)
        #expect(network.node(5).term == 5)
        network.deliverQueued()
        let votes = Dictionary(uniqueKeysWithValues: network.queue.map { ($0.from, $0.grantsVote!) })
        #expect(votes == [2: true, 3: false, 4: false])
        network.stabilize()
        #expect(network.node(5).role != .leader)

        // S3 takes over and index 2 of term 2 survives on every node.
        network.expireLeaderLeases()
        network.campaign(3)
        network.stabilize()
        #expect(network.leaders == [3])
        for id: NodeID in [2, 3, 4, 5] {
            #expect(network.node(id).term(at: 2) == 2, "node \(id)")
            #expect(network.node(id).commitIndex == network.node(3).lastIndex)
            #expect(network.applied[id]?.prefix(3).map(\.term) == [1, 2, 4])
        }
    }
}
