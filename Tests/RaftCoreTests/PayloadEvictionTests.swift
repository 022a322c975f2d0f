import Testing

@testable import RaftCore

@Suite("Evicting applied commands from the in-memory log")
struct PayloadEvictionTests {
    static func command(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 100) }

    /// The resident bytes the log accounts for equal the command bytes it holds.
    static func checkAccounting(_ log: RaftLog, sourceLocation: SourceLocation = #_sourceLocation) {
        let held = log.entries.reduce(0) { total, entry in
            if case .command(let bytes) = entry.payload { total + bytes.count } else { total }
        }
        #expect(log.residentBytes == held, sourceLocation: sourceLocation)
        for entry in log.entries where entry.index > log.evictedThrough {
            if case .evictedCommand = entry.payload { Issue.record("entry \(entry.index) evicted above \(log.evictedThrough)", sourceLocation: sourceLocation) }
        }
    }

    @Test("Only applied and persisted commands are evicted, oldest first, down to the bound; accounting survives truncation, compaction and restore")
    func accounting() {
        var log = RaftLog(snapshot: nil, baseConfiguration: ClusterConfiguration(voters: [1]), entries: [], committed: 0)
        log.append((1...10).map { Entry(term: 1, index: $0, payload: $0 == 4 ? .noop : .command(Self.command(UInt8($0)))) })
        Self.checkAccounting(log)
        #expect(log.residentBytes == 900)
        log.evictPayloads(keepingBytes: 0)
        #expect(log.evictedThrough == 0, "nothing is applied or persisted yet")
        log.stable(to: 10, term: 1)
        log.commit(to: 8)
        log.applied = 6
        log.evictPayloads(keepingBytes: 250)
        #expect(log.evictedThrough == 6 && log.residentBytes == 400, "evicted 1-6 (5 commands), stopped at applied")
        #expect(log.entry(at: 4)?.payload == .noop && log.entry(at: 6)?.payload == .evictedCommand(byteCount: 100))
        #expect(log.entries(from: 5, maxCount: 10, maxBytes: 1 << 20).count == 6, "placeholders keep their size for batching")
        Self.checkAccounting(log)
        log.append([Entry(term: 2, index: 9, payload: .command([1, 2, 3]))])  // replaces 9 and 10
        #expect(log.residentBytes == 203)
        Self.checkAccounting(log)
        log.applied = 8
        log.recordSnapshot(at: 8, compactTo: 7)
        Self.checkAccounting(log)
        #expect(log.residentBytes == 103 && log.evictedThrough == 7)
        log.evictPayloads(keepingBytes: 0)
        #expect(log.residentBytes == 3 && log.evictedThrough == 8)
        Self.checkAccounting(log)
        log.restore(SnapshotMetadata(index: 20, term: 3, configuration: ClusterConfiguration(voters: [1])))
        #expect(log.residentBytes == 0 && log.evictedThrough == 20)
    }

    @Test(
        "A log restored with its older commands as placeholders (a start-up over a long log) accounts only for the resident ones, evicts on from there, and compacts correctly"
    )
    func restoredWithPlaceholders() {
        let entries = (UInt64(1)...10).map { index in
            Entry(term: 1, index: index, payload: index <= 6 ? .evictedCommand(byteCount: 100) : .command(Self.command(UInt8(index))))
        }
        var log = RaftLog(snapshot: nil, baseConfiguration: ClusterConfiguration(voters: [1]), entries: entries, committed: 10)
        #expect(log.residentBytes == 400 && log.evictedThrough == 6 && log.applied == 0, "placeholders above applied: not yet applied")
        Self.checkAccounting(log)
        log.evictPayloads(keepingBytes: 0)
        #expect(log.evictedThrough == 6, "nothing more until applied")
        log.applied = 8
        log.evictPayloads(keepingBytes: 150)
        #expect(log.residentBytes == 200 && log.evictedThrough == 8)
        Self.checkAccounting(log)
        log.recordSnapshot(at: 8, compactTo: 4)
        #expect(log.residentBytes == 200)
        Self.checkAccounting(log)
        log.recordSnapshot(at: 8, compactTo: 9)
        #expect(log.residentBytes == 200 && log.evictedThrough == 8, "compaction stops at the snapshot")
        Self.checkAccounting(log)
    }

    @Test("A follower behind evicted commands gets them once the leader's host reads them back; a placeholder is never stored")
    func laggingFollowerHydrated() throws {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(1)
        network.cut(1, 3)
        for byte: UInt8 in 1...5 { try network.propose(1, Self.command(byte)) }
        network.stabilize()
        #expect(network.node(1).commitIndex == 6 && network.node(3).lastIndex == 1)
        var leader = network.node(1)
        leader.evictPayloads(keepingBytes: 150)
        #expect(leader.residentPayloadBytes == 100)
        network.nodes[1] = leader
        network.recover()
        network.tick(1, times: 2)
        // Deliver everything but the first append with placeholders (the heartbeat round that
        // tells the leader how far node 3 lags comes first).
        var captured: Message?
        for _ in 0..<20 where captured == nil {
            network.processAllReadies()
            for message in network.take(where: { _ in true }) {
                if captured == nil, message.evictedRange != nil { captured = message } else if message.evictedRange == nil { network.deliver(message) }
            }
        }
        let withPlaceholders = try #require(captured)
        #expect(withPlaceholders.to == 3)
        #expect(withPlaceholders.evictedRange == 2...5)
        // Delivered as is (a host that did not read them back), it is ignored.
        network.deliver(withPlaceholders)
        #expect(network.node(3).lastIndex == 1)
        #expect(withPlaceholders.hydrating([]) == nil, "missing entries: not sendable")
        let stored = try #require(network.storage[1]?.entries)
        let wrongTerm = stored.map { Entry(term: $0.term + 1, index: $0.index, payload: $0.payload) }
        #expect(withPlaceholders.hydrating(wrongTerm) == nil, "another entry at that index: not sendable")
        let hydrated = try #require(withPlaceholders.hydrating(stored))
        #expect(hydrated.evictedRange == nil)
        network.deliver(hydrated)
        network.stabilize()
        #expect(network.node(3).commitIndex == 6)
        #expect(network.appliedCommands(3) == (1...5).map { Self.command($0) })
    }

    @Test("A follower in replicate state gets appends up to maxInflightBytes, then one more only as acknowledgements free room")
    func inflightBytesBound() throws {
        var network = try TestNetwork(voters: [1, 2, 3]) { configuration in
            configuration.maxAppendEntries = 1
            configuration.maxInflightBytes = 250  // two appends of one 124-byte entry, then full
        }
        network.elect(1)
        network.stabilize()
        // Node 3's answers are held back: its window fills.
        network.cut(3, 1)
        let sentBefore = network.sent.count
        for byte: UInt8 in 1...6 { try network.propose(1, Self.command(byte)) }
        network.stabilize()
        let appendsTo3 = network.sent[sentBefore...].filter { $0.to == 3 && $0.kind == .append && $0.evictedRange == nil }
        let withEntries = appendsTo3.filter { if case .append(let request) = $0.body { !request.entries.isEmpty } else { false } }
        #expect(withEntries.count == 3, "248 bytes in flight leave room for a third; 372 do not")
        #expect(network.node(2).lastIndex == network.node(1).lastIndex, "the other follower is not held back")
        network.recover()
        network.tickAndStabilize(times: 3)
        #expect(network.node(3).lastIndex == network.node(1).lastIndex, "acknowledgements free the window")
    }
}
