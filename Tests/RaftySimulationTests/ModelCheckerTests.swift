import Rafty
import RaftySimulation
import Testing

/// The generic checker on hand-written histories of ``Journals``.
@Suite("Model checker")
struct ModelCheckerTests {
    /// Appends `entry` to journal x; `answer` is the length it answered (nil: unknown).
    static func add(_ id: Int, client: Int = 0, _ entry: String, at invoke: UInt64, _ complete: UInt64?, answer: Int?) -> SimulatedHistoryEntry {
        SimulatedHistoryEntry(
            id: id, client: client, request: .command(Array("+x \(entry)".utf8)), invokeTime: invoke, completeTime: complete,
            outcome: answer.map { .ok(Array("\($0)".utf8)) } ?? .unknown)
    }

    static func read(_ id: Int, client: Int = 1, at invoke: UInt64, _ complete: UInt64, answer: String) -> SimulatedHistoryEntry {
        SimulatedHistoryEntry(
            id: id, client: client, request: .read(Array("x".utf8)), invokeTime: invoke, completeTime: complete, outcome: .ok(Array(answer.utf8)))
    }

    static func check(_ history: [SimulatedHistoryEntry], maxStates: Int = 10_000) -> LinearizabilityResult {
        ModelChecker.check(history, model: Journals.self, partition: Journals.name(of:), maxStates: maxStates)
    }

    @Test("Sequential and concurrent histories that one copy explains pass")
    func linearizable() {
        #expect(Self.check([Self.add(0, "a", at: 0, 10, answer: 1), Self.read(1, at: 11, 12, answer: "a")]).isLinearizable)
        // Two overlapping appends: either order, as long as the answers agree with it.
        let overlapping = [Self.add(0, client: 0, "a", at: 0, 10, answer: 2), Self.add(1, client: 1, "b", at: 1, 9, answer: 1)]
        #expect(Self.check(overlapping + [Self.read(2, at: 11, 12, answer: "b,a")]).isLinearizable)
        // A read concurrent with an append may see it or not.
        #expect(Self.check([Self.add(0, "a", at: 0, 10, answer: 1), Self.read(1, at: 5, 6, answer: "")]).isLinearizable)
        #expect(Self.check([Self.add(0, "a", at: 0, 10, answer: 1), Self.read(1, at: 5, 6, answer: "a")]).isLinearizable)
    }

    @Test("A read that misses a finished append, or sees an order the answers rule out, fails")
    func notLinearizable() {
        let stale = Self.check([Self.add(0, "a", at: 0, 10, answer: 1), Self.read(1, at: 11, 12, answer: "")])
        #expect(!stale.isLinearizable && !stale.timedOut)
        #expect(stale.failingKey == "x")
        #expect(stale.explanation?.contains("#1") == true, "\(stale.explanation ?? "")")
        let overlapping = [Self.add(0, client: 0, "a", at: 0, 10, answer: 2), Self.add(1, client: 1, "b", at: 1, 9, answer: 1)]
        #expect(!Self.check(overlapping + [Self.read(2, at: 11, 12, answer: "a,b")]).isLinearizable)
        let bothFirst = [Self.add(0, client: 0, "a", at: 0, 10, answer: 1), Self.add(1, client: 1, "b", at: 1, 9, answer: 1)]
        #expect(!Self.check(bothFirst).isLinearizable)
    }

    @Test("An append whose outcome is unknown may take effect later, or never")
    func unknownOutcomes() {
        let lost = Self.add(0, "a", at: 0, nil, answer: nil)
        #expect(Self.check([lost, Self.read(1, at: 20, 21, answer: "")]).isLinearizable)
        #expect(Self.check([lost, Self.read(1, at: 20, 21, answer: "a")]).isLinearizable)
        #expect(Self.check([lost, Self.read(1, at: 20, 21, answer: ""), Self.read(2, at: 30, 31, answer: "a")]).isLinearizable)
        // Once seen, it cannot be unseen; and it cannot act before it was sent.
        #expect(!Self.check([lost, Self.read(1, at: 20, 21, answer: "a"), Self.read(2, at: 30, 31, answer: "")]).isLinearizable)
        let late = Self.add(0, "a", at: 50, nil, answer: nil)
        #expect(!Self.check([late, Self.read(1, at: 20, 21, answer: "a")]).isLinearizable)
    }

    @Test("Refused requests are dropped; parts are checked on their own")
    func refusedAndParts() {
        let refused = SimulatedHistoryEntry(id: 0, client: 0, request: .command(Array("+x a".utf8)), invokeTime: 0, completeTime: 1, outcome: .failed)
        #expect(Self.check([refused, Self.read(1, at: 20, 21, answer: "")]).isLinearizable)
        let other = SimulatedHistoryEntry(
            id: 2, client: 2, request: .command(Array("+y b".utf8)), invokeTime: 0, completeTime: 3, outcome: .ok(Array("1".utf8)))
        let result = Self.check([other, Self.read(1, at: 20, 21, answer: "")])
        #expect(result.isLinearizable && result.checkedOperations == 2)
    }

    @Test("A search over its budget reports a time-out, not a verdict")
    func budget() {
        // Concurrent unknown appends and a read no order of them explains: every order is tried.
        var history = (0..<7).map { Self.add($0, client: $0, "e\($0)", at: 0, nil, answer: nil) }
        history.append(Self.read(7, at: 100, 101, answer: "none"))
        let result = Self.check(history, maxStates: 500)
        #expect(result.timedOut && !result.isLinearizable)
        let settled = Self.check(history, maxStates: 1 << 20)
        #expect(!settled.timedOut && !settled.isLinearizable)
    }
}
