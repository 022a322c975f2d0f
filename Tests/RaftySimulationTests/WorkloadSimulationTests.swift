import Rafty
import RaftySimulation
import Testing

/// What a user's own state machine looks like: journals by name; `+name entry` appends and
/// answers the journal's new length, a query `name` answers the whole journal.
struct Journals: DeterministicStateMachine, Hashable {
    var journals: [String: [String]] = [:]

    init() {}

    init(snapshot: [UInt8]) throws {
        for line in String(decoding: snapshot, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { throw JournalsError() }
            self.journals[String(parts[0])] = parts[1].split(separator: ",").map(String.init)
        }
    }

    mutating func apply(_ command: CommittedCommand) -> [UInt8] {
        let parts = String(decoding: command.bytes, as: UTF8.self).dropFirst().split(separator: " ")
        guard command.bytes.first == UInt8(ascii: "+"), parts.count == 2 else { return Array("refused".utf8) }
        self.journals[String(parts[0]), default: []].append(String(parts[1]))
        return Array("\(self.journals[String(parts[0])]!.count)".utf8)
    }

    func query(_ request: [UInt8]) throws -> [UInt8] {
        Array((self.journals[String(decoding: request, as: UTF8.self)] ?? []).joined(separator: ",").utf8)
    }

    func snapshot() -> [UInt8] {
        Array(self.journals.keys.sorted().map { "\($0) \(self.journals[$0]!.joined(separator: ","))" }.joined(separator: "\n").utf8)
    }

    static func name(of request: SimulatedRequest) -> String {
        let text = String(decoding: request.bytes, as: UTF8.self)
        return text.hasPrefix("+") ? String(text.dropFirst().split(separator: " ")[0]) : text
    }
}

struct JournalsError: Error {}

/// Appends unique entries to and reads two journals, with the reads of `consistency`.
struct JournalsWorkload: SimulationWorkload {
    typealias Machine = Journals
    var consistency = RaftNode.ReadConsistency.linearizable
    var next = 1

    mutating func nextRequest(_ kind: SimulatedRequest.Kind, using random: inout some RandomNumberGenerator) -> SimulatedRequest {
        let name = Bool.random(using: &random) ? "x" : "y"
        if kind == .read || (kind == .any && Bool.random(using: &random)) { return .read(Array(name.utf8), self.consistency) }
        defer { self.next += 1 }
        return .command(Array("+\(name) \(self.next)".utf8))
    }

    func partition(of request: SimulatedRequest) -> String? { Journals.name(of: request) }
}

/// A user's own ``DeterministicStateMachine`` in the node simulation, with its faults, checked by
/// the generic ``ModelChecker``; and the same machine in a real node through ``LockedStateMachine``.
@Suite("Your state machine in the simulation")
struct WorkloadSimulationTests {
    @Test("A user's state machine stays linearizable under the node simulation's faults, 3 and 5 nodes", arguments: [3, 5])
    func countersStayLinearizable(nodeCount: Int) {
        var total = NodeSimulationReport(seed: 0, nodeCount: nodeCount)
        for base: UInt64 in 1...8 {
            let report = JournalsWorkload().simulate(seed: base * 1000 + UInt64(nodeCount), nodeCount: nodeCount)
            #expect(report.failure == nil, "\(report)")
            total.add(report)
        }
        #expect(total.uncheckedHistories == 0, "every history must be settled by the checker")
        #expect(total.completed > 100 && total.crashes > 0 && total.forwarded > 0 && total.snapshotsInstalled > 0, "\(total)")
    }

    @Test("A seed replays its run exactly")
    func replays() {
        let first = JournalsWorkload().simulate(seed: 7003)
        let second = JournalsWorkload().simulate(seed: 7003)
        #expect(first.description == second.description)
        #expect(first.completed > 0)
    }

    /// Stale reads are served by any node from its own state machine: the checker must catch the
    /// answers no single copy could have given (else it would pass anything).
    @Test("Stale reads of a user's state machine are caught as not linearizable")
    func staleReadsAreCaught() {
        var failures: [String] = []
        for base: UInt64 in 1...12 {
            let report = JournalsWorkload(consistency: .stale).simulate(seed: base * 1000 + 3)
            if let failure = report.failure { failures.append(failure) }
        }
        #expect(!failures.isEmpty, "no stale read was caught in 12 runs")
        #expect(failures.allSatisfy { $0.contains("not linearizable") }, "\(failures)")
    }

    @Test("The same machine runs in a node through LockedStateMachine, snapshots included")
    func lockedStateMachine() async throws {
        let machine = LockedStateMachine<Journals>()
        let answers = try await machine.apply([
            CommittedCommand(index: 1, term: 1, bytes: Array("+x a".utf8)), CommittedCommand(index: 2, term: 1, bytes: Array("+x b".utf8)),
            CommittedCommand(index: 3, term: 1, bytes: Array("nonsense".utf8)),
        ])
        #expect(answers.map { String(decoding: $0, as: UTF8.self) } == ["1", "2", "refused"])
        #expect(try await machine.query(Array("x".utf8)) == Array("a,b".utf8))
        let view = try #require(try await machine.snapshotView())
        _ = try await machine.apply([CommittedCommand(index: 4, term: 1, bytes: Array("+x c".utf8))])
        var written: [UInt8] = []
        try await view.write(to: SnapshotOutput { written += $0 })
        #expect(String(decoding: written, as: UTF8.self) == "x a,b", "the view holds the state it captured")
        let restored = LockedStateMachine<Journals>()
        try await restored.restore(from: SnapshotInput(bytes: written))
        #expect(restored.value.journals == ["x": ["a", "b"]])
        await #expect(throws: JournalsError.self) { try await restored.restore(from: SnapshotInput(bytes: Array("x".utf8))) }
    }
}
