import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

/// Start-up holds only the newest `inMemoryLogBytes` of commands, whatever the stored log's
/// length; the rest are placeholders read back when they are applied or sent.
@Suite("Start-up load")
struct StartupLoadTests {
    typealias Kind = LogStoreConformanceTests.Kind

    /// A no-op, then 40 commands of 1,000 bytes (index 2...42) with a configuration entry at 21.
    static func storedEntries() -> [Entry] {
        (UInt64(1)...42).map { index in
            switch index {
            case 1: Entry(term: 1, index: 1, payload: .noop)
            case 21: Entry(term: 2, index: 21, payload: .configuration(ClusterConfiguration(voters: [1])))
            default: Entry(term: index < 21 ? 1 : 2, index: index, payload: .command(Array(repeating: UInt8(index), count: 1_000)))
            }
        }
    }

    static func residentBytes(_ entries: [Entry]) -> Int {
        entries.reduce(0) { if case .command(let bytes) = $1.payload { $0 + bytes.count } else { $0 } }
    }

    @Test(
        "Only the newest residentBytes of commands are loaded; older ones are placeholders of the same size; reading them back gives the stored log",
        arguments: Kind.allCases)
    func loadKeepsNewest(kind: Kind) throws {
        let harness = try LogStoreConformanceTests.Harness(kind)
        let stored = Self.storedEntries()
        try harness.store.append(stored)
        let loaded = try NodeRecovery.loadEntries(from: harness.store, residentBytes: 4_500)
        #expect(loaded.map(\.index) == stored.map(\.index) && loaded.map(\.term) == stored.map(\.term))
        #expect(Self.residentBytes(loaded) == 4_000, "the newest four commands")
        for (entry, original) in zip(loaded, stored) {
            switch (entry.payload, original.payload) {
            case (.evictedCommand(let byteCount), .command(let bytes)):
                #expect(entry.index <= 38 && byteCount == bytes.count)
            default:
                #expect(entry == original, "entry \(entry.index) is kept as stored")
            }
        }
        #expect(try harness.store.hydrating(loaded) == stored)
        #expect(try harness.store.hydrating(loaded[10..<20]) == Array(stored[10..<20]))
        #expect(try NodeRecovery.loadEntries(from: harness.store, residentBytes: .max) == stored)
        #expect(try NodeRecovery.loadEntries(from: InMemoryLogStore(), residentBytes: 0) == [])
    }

    @Test("A placeholder the store cannot fill with the same command (other term, other size, compacted) is an error, never a silent skip")
    func hydratingRefusesMismatch() throws {
        let store = InMemoryLogStore()
        try store.append(Self.storedEntries())
        let otherTerm = Entry(term: 3, index: 5, payload: .evictedCommand(byteCount: 1_000))
        #expect { try store.hydrating([otherTerm]) } throws: { ($0 as? StorageError)?.code == .corrupted }
        let otherSize = Entry(term: 1, index: 5, payload: .evictedCommand(byteCount: 999))
        #expect { try store.hydrating([otherSize]) } throws: { ($0 as? StorageError)?.code == .corrupted }
        let notACommand = Entry(term: 1, index: 1, payload: .evictedCommand(byteCount: 0))
        #expect { try store.hydrating([notACommand]) } throws: { ($0 as? StorageError)?.code == .corrupted }
        try store.compactPrefix(through: 10)
        let compacted = Entry(term: 1, index: 5, payload: .evictedCommand(byteCount: 1_000))
        #expect { try store.hydrating([compacted]) } throws: { ($0 as? StorageError)?.code == .compacted }
    }

    @Test(
        "A node restarted over a long committed log holds at most inMemoryLogBytes of commands, and hands the state machine every committed entry to read back")
    func restartHoldsWindow() throws {
        let log = InMemoryLogStore()
        let stored = Self.storedEntries()
        try log.append(stored)
        let address = "10.0.0.1:7000"
        let stable = InMemoryStableStore(state: StableState(nodeID: 1, hardState: HardState(term: 2, vote: 1, commit: 42)))
        var configuration = RaftNode.Configuration(id: 1)
        configuration.inMemoryLogBytes = 2_000
        configuration.tickInterval = NodeEngineTests.tick
        let state = try NodeRecovery.reconcile(
            log: log, stable: stable, snapshot: nil, residentBytes: configuration.inMemoryLogBytes, logger: configuration.logger)
        let membership = ClusterConfiguration(voters: [1], addresses: [1: address])
        var engine = try NodeEngine(
            configuration: configuration, address: address, peerAddresses: [], addresses: [:], peerRoles: [:],
            membership: membership, restoring: state, metrics: .discarding(nodeID: 1), logger: configuration.logger,
            now: NodeEngineTests.start, randomSeed: 1)
        #expect(engine.core.residentPayloadBytes == 2_000, "40,000 bytes of commands are stored")

        var handed: [Entry] = []
        var now = NodeEngineTests.start
        var ticks = 0
        while handed.last?.index ?? 0 < 42 && ticks < 200 {
            ticks += 1
            now += NodeEngineTests.tick
            // The actions are carried out in order, as NodeLoop does (nothing persists here).
            var actions = engine.handle([], now: now)
            var next = 0
            while next < actions.count {
                switch actions[next] {
                case .persist: actions += engine.persisted(now: now)
                case .apply(let entries):
                    handed += entries
                    actions += engine.applied(entries, results: [:], now: now)
                default: break
                }
                next += 1
            }
        }
        let restored = Array(handed.prefix(42))  // then the new leader's no-op
        #expect(restored.map(\.index) == Array(1...42))
        #expect(restored.contains { if case .evictedCommand = $0.payload { true } else { false } }, "the old commands arrive as placeholders")
        #expect(try log.hydrating(restored) == stored)
        #expect(engine.core.residentPayloadBytes <= 2_000)
    }
}
