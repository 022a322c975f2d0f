import Testing

@testable import RaftCore

@Suite("Snapshots and log compaction")
struct SnapshotTests {
    /// Nodes 1–3 led by node 1; node 3 was cut off while five commands committed; the leader then
    /// compacted its whole applied log.
    static func laggingFollowerAfterCompaction(trailingEntries: UInt64 = 0) throws -> TestNetwork {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.cut(1, 3)
        for byte: UInt8 in 1...5 { try network.propose(1, [byte]) }
        network.stabilize()
        #expect(network.node(1).commitIndex == 6)
        #expect(network.node(3).lastIndex == 1)
        try network.compact(1, at: 6, trailingEntries: trailingEntries)
        network.recover()
        return network
    }

    @Test("The leader compacts; a lagging follower gets installSnapshot, installs it, then catches up with appends")
    func laggingFollowerInstallsSnapshot() throws {
        var network = try Self.laggingFollowerAfterCompaction()
        let snapshot = try #require(network.node(1).snapshot)
        #expect(snapshot.index == 6)
        #expect(snapshot.term == 1)
        #expect(snapshot.configuration == ClusterConfiguration(voters: [1, 2, 3]))
        #expect(network.node(1).firstIndex == 7)
        #expect(network.node(1).entry(at: 6) == nil)

        network.tickAndStabilize()
        let installs = network.sent.filter { $0.kind == .installSnapshot }
        #expect(installs.map(\.to) == [3])
        #expect(installs.first?.body == .installSnapshot(snapshot))
        let readies = try #require(network.readyLog[3])
        let withSnapshot = readies.filter { $0.snapshot != nil }
        #expect(withSnapshot.count == 1)
        #expect(withSnapshot.first?.snapshot == snapshot)
        #expect(withSnapshot.first?.hardState?.commit == 6)
        #expect(withSnapshot.first?.committedEntries == [], "the state machine is restored from the snapshot instead")
        #expect(network.storage[3]?.snapshot == snapshot)
        #expect(network.node(3).firstIndex == 7)
        #expect(network.node(3).commitIndex == 6)
        #expect(network.appliedCommands(3) == [[1], [2], [3], [4], [5]])

        // Later entries travel as appends.
        try network.propose(1, [6])
        network.stabilize()
        #expect(network.sent.filter { $0.kind == .installSnapshot }.count == 1)
        #expect(network.node(3).commitIndex == 7)
        #expect(network.log(3) == network.log(1))
        #expect(network.appliedCommands(3) == [[1], [2], [3], [4], [5], [6]])
        #expect(network.storage[3]?.entries.map(\.index) == [7])
    }

    @Test("A node restarts from its persisted snapshot and entries")
    func restartFromSnapshot() throws {
        var network = try Self.laggingFollowerAfterCompaction()
        network.tickAndStabilize()
        try network.propose(1, [6])
        try network.propose(1, [7])
        network.stabilize()
        for id: NodeID in [1, 3] {
            let before = network.node(id)
            let commands = network.appliedCommands(id)
            network.stop(id)
            try network.start(id)
            let after = network.node(id)
            #expect(after.snapshot?.index == 6)
            #expect(after.firstIndex == 7)
            #expect(after.lastIndex == before.lastIndex)
            #expect(after.commitIndex == before.commitIndex)
            #expect(after.term == before.term)
            #expect(after.configuration == before.configuration)
            network.processReady(id)
            #expect(network.appliedCommands(id) == commands, "snapshot contents, then the committed entries after it")
            #expect(network.readyLog[id]?.last?.committedEntries.map(\.index) == [7, 8])
        }
        // The restarted cluster still works.
        network.elect(3)
        try network.propose(3, [8])
        network.stabilize()
        for id in network.ids { #expect(network.appliedCommands(id).last == [8]) }
    }

    @Test("Entries kept after the snapshot let a slightly lagging follower catch up without one")
    func trailingEntriesAvoidSnapshot() throws {
        var network = try Self.laggingFollowerAfterCompaction(trailingEntries: 5)
        #expect(network.node(1).firstIndex == 2)
        network.tickAndStabilize(times: 2)
        #expect(!network.sent.contains { $0.kind == .installSnapshot })
        #expect(network.log(3).dropFirst() == network.log(1)[...], "caught up (node 3 also still holds index 1)")
        #expect(network.appliedCommands(3) == [[1], [2], [3], [4], [5]])
    }

    @Test("A lost snapshot is sent again")
    func lostSnapshotIsResent() throws {
        var network = try Self.laggingFollowerAfterCompaction()
        network.ignore(.installSnapshot)
        network.tickAndStabilize(times: 3)
        #expect(network.dropped.contains { $0.kind == .installSnapshot })
        network.recover()
        network.tickAndStabilize(times: 15)
        #expect(network.node(3).commitIndex == 6)
        #expect(network.appliedCommands(3) == [[1], [2], [3], [4], [5]])
    }

    @Test("reportSnapshot(success: false) makes the leader retry at once")
    func reportSnapshotFailure() throws {
        var network = try Self.laggingFollowerAfterCompaction()
        network.ignore(.installSnapshot)
        network.tickAndStabilize()
        network.recover()
        network.nodes[1]!.reportSnapshot(to: 3, success: false)
        network.tickAndStabilize()
        #expect(network.node(3).commitIndex == 6)
    }

    @Test("A snapshot a follower already covers is only acknowledged")
    func staleSnapshotIsAcknowledged() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        for byte: UInt8 in 1...3 { try network.propose(1, [byte]) }
        network.stabilize()
        let log = network.log(2)
        let configuration = network.node(2).configuration
        network.inject(Message(from: 1, to: 2, term: 1, body: .installSnapshot(SnapshotMetadata(index: 3, term: 1, configuration: configuration))))
        #expect(network.log(2) == log)
        #expect(network.readyLog[2]?.last?.snapshot == nil)
        #expect(network.queue.last?.appendResponse == AppendResponse(index: 4))
    }

    @Test("compact rejects indices beyond applied or not newer than the last snapshot")
    func compactArguments() throws {
        var network = try TestNetwork(voters: [1])
        network.campaign(1)
        network.stabilize()
        try network.propose(1, [1])
        #expect { try network.compact(1, at: 3) } throws: { ($0 as! RaftCoreError).code == .invalidArgument }
        try network.compact(1, at: 2)
        #expect { try network.compact(1, at: 2) } throws: { ($0 as! RaftCoreError).code == .invalidArgument }
        #expect { try network.compact(1, at: 1) } throws: { ($0 as! RaftCoreError).code == .invalidArgument }
    }
}
