import Testing

@testable import RaftySimulation

/// Builds a history entry tersely; ids only need to be unique within a test.
private func entry(
    _ id: Int,
    client: Int = 0,
    _ operation: KVOperation,
    _ invoke: UInt64,
    _ complete: UInt64?,
    _ outcome: KVOutcome?
) -> HistoryEntry {
    HistoryEntry(
        id: id, client: client, operation: operation,
        invokeTime: invoke, completeTime: complete, outcome: outcome
    )
}

/// Deterministic generator so the random histories are identical on every run and platform.
private struct CheckerTestRNG: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Simulates a real register: each operation takes effect at a strictly increasing instant inside
/// its [invoke, complete] interval, so the result is linearizable by construction. Some operations
/// fail (and are not applied) or time out (unknown; applied or not at random). Written values are
/// drawn from `0..<values`, or unique when `values` is nil.
private func makeValidHistory(
    seed: UInt64,
    operations: Int,
    keys: [String],
    clients: Int,
    values: Int? = 10,
    unknownPercent: Int = 4
) -> [HistoryEntry] {
    var rng = CheckerTestRNG(state: seed)
    var lastUnique = 0
    func randomValue() -> Int {
        if let values { return Int.random(in: 0..<values, using: &rng) }
        lastUnique += 1
        return lastUnique
    }
    var register: [String: Int] = [:]
    var busyUntil = Array(repeating: UInt64(0), count: clients)
    var now: UInt64 = 0
    var history: [HistoryEntry] = []
    while history.count < operations {
        now += UInt64.random(in: 1...3, using: &rng)
        let idle = (0..<clients).filter { busyUntil[$0] < now }
        guard let client = idle.randomElement(using: &rng) else { continue }
        let invoke = UInt64.random(in: (busyUntil[client] + 1)...now, using: &rng)
        let complete = now + UInt64.random(in: 0...15, using: &rng)
        let key = keys.randomElement(using: &rng)!
        let current = register[key]

        let operation: KVOperation
        let result: KVResult
        let newValue: Int?
        let kind = Int.random(in: 0..<100, using: &rng)
        if kind < 45 {
            operation = .read(key: key)
            result = .read(current)
            newValue = current
        } else if kind < 80 {
            let value = randomValue()
            operation = .write(key: key, value: value)
            result = .written
            newValue = value
        } else {
            let expected: Int? = Bool.random(using: &rng) ? current : randomValue()
            let new = randomValue()
            operation = .cas(key: key, expected: expected, new: new)
            result = .cas(swapped: current == expected)
            newValue = current == expected ? new : current
        }

        let fate = Int.random(in: 0..<100, using: &rng)
        let id = history.count
        if fate < unknownPercent {
            // Timed out: the client gives up and moves on; the op may or may not have been applied.
            if Bool.random(using: &rng) { register[key] = newValue }
            history.append(entry(id, client: client, operation, invoke, nil, .unknown))
        } else if fate < unknownPercent + 3 {
            history.append(entry(id, client: client, operation, invoke, complete, .failed))
        } else {
            register[key] = newValue
            history.append(entry(id, client: client, operation, invoke, complete, .ok(result)))
        }
        busyUntil[client] = complete
    }
    return history
}

/// Reference answer by brute force (tiny histories only): tries every subset of the unknown
/// writes/CASes and every order of the chosen operations that respects real time.
private func exhaustivelyLinearizable(_ history: [HistoryEntry]) -> Bool {
    for key in Set(history.map(\.operation.key)) {
        let ops = history.filter { entry in
            guard entry.operation.key == key else { return false }
            switch entry.outcome {
            case .ok: return true
            case .failed: return false
            case .unknown, nil:
                if case .read = entry.operation { return false }
                return true
            }
        }
        func isCompleted(_ index: Int) -> Bool {
            if case .ok = ops[index].outcome { return true }
            return false
        }
        let optional = ops.indices.filter { !isCompleted($0) }
        var found = false
        for mask in 0..<(1 << optional.count) where !found {
            let chosen =
                ops.indices.filter(isCompleted)
                + optional.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
            var placed = Array(repeating: false, count: ops.count)
            func extend(_ count: Int, _ value: Int?) -> Bool {
                if count == chosen.count { return true }
                for index in chosen where !placed[index] {
                    // Every unplaced completed op that returned before this one was invoked must go first.
                    let blocked = chosen.contains { other in
                        !placed[other] && other != index && isCompleted(other)
                            && ops[other].completeTime! < ops[index].invokeTime
                    }
                    if blocked { continue }
                    var next = value
                    let result: KVResult
                    switch ops[index].operation {
                    case .read: result = .read(value)
                    case .write(_, let written):
                        result = .written
                        next = written
                    case .cas(_, let expected, let new):
                        result = .cas(swapped: value == expected)
                        if value == expected { next = new }
                    }
                    if case .ok(let observed) = ops[index].outcome, observed != result { continue }
                    placed[index] = true
                    defer { placed[index] = false }
                    if extend(count + 1, next) { return true }
                }
                return false
            }
            found = extend(0, nil)
        }
        if !found { return false }
    }
    return true
}

/// A tiny history with arbitrary (usually inconsistent) results, for comparison with the brute force.
private func randomSmallHistory(_ rng: inout CheckerTestRNG, count: Int, keys: [String]) -> [HistoryEntry] {
    let values: [Int?] = [nil, 0, 1, 2]
    return (0..<count).map { id in
        let key = keys.randomElement(using: &rng)!
        let operation: KVOperation
        let result: KVResult
        switch Int.random(in: 0..<3, using: &rng) {
        case 0:
            operation = .read(key: key)
            result = .read(values.randomElement(using: &rng)!)
        case 1:
            operation = .write(key: key, value: Int.random(in: 0..<3, using: &rng))
            result = .written
        default:
            operation = .cas(key: key, expected: values.randomElement(using: &rng)!, new: Int.random(in: 0..<3, using: &rng))
            result = .cas(swapped: Bool.random(using: &rng))
        }
        let invoke = UInt64.random(in: 0..<20, using: &rng)
        let complete = invoke + UInt64.random(in: 0..<8, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<6: return entry(id, client: id, operation, invoke, complete, .ok(result))
        case 6..<8: return entry(id, client: id, operation, invoke, nil, .unknown)
        case 8: return entry(id, client: id, operation, invoke, nil, nil)
        default: return entry(id, client: id, operation, invoke, complete, .failed)
        }
    }
}

@Suite("LinearizabilityChecker")
struct LinearizabilityCheckerTests {
    @Test("A sequential history is linearizable")
    func sequentialHistory() {
        let history = [
            entry(0, .read(key: "x"), 0, 1, .ok(.read(nil))),
            entry(1, .write(key: "x", value: 1), 2, 3, .ok(.written)),
            entry(2, .read(key: "x"), 4, 5, .ok(.read(1))),
            entry(3, .cas(key: "x", expected: 1, new: 2), 6, 7, .ok(.cas(swapped: true))),
            entry(4, .read(key: "x"), 8, 9, .ok(.read(2))),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(result.isLinearizable)
        #expect(result.checkedOperations == 5)
        #expect(result.failingKey == nil)
        #expect(result.explanation == nil)
        #expect(!result.timedOut)
    }

    @Test("A stale read after a completed write is not linearizable")
    func staleRead() throws {
        let history = [
            entry(0, .write(key: "x", value: 1), 0, 10, .ok(.written)),
            entry(1, .read(key: "x"), 11, 20, .ok(.read(nil))),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(!result.isLinearizable)
        #expect(!result.timedOut)
        #expect(result.failingKey == "x")
        let explanation = try #require(result.explanation)
        #expect(explanation.contains("#0"))
        #expect(explanation.contains("#1"))
    }

    @Test("A read concurrent with a write may see the old or the new value")
    func concurrentReadSeesEither() {
        for observed in [nil, 1] as [Int?] {
            let history = [
                entry(0, client: 0, .write(key: "x", value: 1), 0, 10, .ok(.written)),
                entry(1, client: 1, .read(key: "x"), 5, 15, .ok(.read(observed))),
            ]
            #expect(LinearizabilityChecker.check(history).isLinearizable, "read observed \(String(describing: observed))")
        }
    }

    @Test("Operations touching at the same instant are concurrent")
    func equalTimesAreConcurrent() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 1), 0, 10, .ok(.written)),
            entry(1, client: 1, .read(key: "x"), 10, 20, .ok(.read(nil))),
        ]
        #expect(LinearizabilityChecker.check(history).isLinearizable)
    }

    @Test("Sequential reads during one write cannot see new then old")
    func newThenOldIsNotLinearizable() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 1), 0, 100, .ok(.written)),
            entry(1, client: 1, .read(key: "x"), 10, 20, .ok(.read(1))),
            entry(2, client: 2, .read(key: "x"), 30, 40, .ok(.read(nil))),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(!result.isLinearizable)
        #expect(result.failingKey == "x")

        // Old then new is fine.
        let reordered = [
            history[0], entry(1, client: 1, .read(key: "x"), 10, 20, .ok(.read(nil))),
            entry(2, client: 2, .read(key: "x"), 30, 40, .ok(.read(1))),
        ]
        #expect(LinearizabilityChecker.check(reordered).isLinearizable)
    }

    @Test("CAS swaps only when the current value matches")
    func casSemantics() {
        let write = entry(0, .write(key: "x", value: 1), 0, 10, .ok(.written))
        // Matching CAS swaps and the new value is visible.
        #expect(
            LinearizabilityChecker.check([
                write,
                entry(1, .cas(key: "x", expected: 1, new: 3), 20, 30, .ok(.cas(swapped: true))),
                entry(2, .read(key: "x"), 40, 50, .ok(.read(3))),
            ]).isLinearizable)
        // Mismatching CAS fails and leaves the value alone.
        #expect(
            LinearizabilityChecker.check([
                write,
                entry(1, .cas(key: "x", expected: 2, new: 3), 20, 30, .ok(.cas(swapped: false))),
                entry(2, .read(key: "x"), 40, 50, .ok(.read(1))),
            ]).isLinearizable)
        // CAS on an absent key expecting nil.
        #expect(
            LinearizabilityChecker.check([
                entry(0, .cas(key: "x", expected: nil, new: 7), 0, 10, .ok(.cas(swapped: true))),
                entry(1, .read(key: "x"), 20, 30, .ok(.read(7))),
            ]).isLinearizable)
        // Reporting a swap although the value did not match.
        let falseSwap = LinearizabilityChecker.check([
            write,
            entry(1, .cas(key: "x", expected: 2, new: 3), 20, 30, .ok(.cas(swapped: true))),
        ])
        #expect(!falseSwap.isLinearizable)
        #expect(falseSwap.failingKey == "x")
        // Reporting no swap although the value matched.
        #expect(
            !LinearizabilityChecker.check([
                write,
                entry(1, .cas(key: "x", expected: 1, new: 3), 20, 30, .ok(.cas(swapped: false))),
            ]).isLinearizable)
        // A failed CAS must not change the value.
        #expect(
            !LinearizabilityChecker.check([
                write,
                entry(1, .cas(key: "x", expected: 2, new: 3), 20, 30, .ok(.cas(swapped: false))),
                entry(2, .read(key: "x"), 40, 50, .ok(.read(3))),
            ]).isLinearizable)
    }

    @Test("An unknown write that a later read observes is linearizable")
    func unknownWriteObserved() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 1), 0, 10, .ok(.written)),
            entry(1, client: 1, .write(key: "x", value: 2), 20, nil, .unknown),
            entry(2, client: 2, .read(key: "x"), 1_000, 1_010, .ok(.read(2))),
            entry(3, client: 2, .read(key: "x"), 1_020, 1_030, .ok(.read(2))),
        ]
        #expect(LinearizabilityChecker.check(history).isLinearizable)
    }

    @Test("Unknown operations can chain: unknown write then unknown CAS explain a read")
    func unknownChain() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 5), 0, nil, .unknown),
            entry(1, client: 1, .cas(key: "x", expected: 5, new: 6), 5, nil, .unknown),
            entry(2, client: 2, .read(key: "x"), 100, 110, .ok(.read(6))),
        ]
        #expect(LinearizabilityChecker.check(history).isLinearizable)
    }

    @Test("An unknown write cannot be observed before it was invoked")
    func unknownWriteObservedTooEarly() {
        let history = [
            entry(0, client: 0, .read(key: "x"), 0, 10, .ok(.read(2))),
            entry(1, client: 1, .write(key: "x", value: 2), 20, nil, .unknown),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(!result.isLinearizable)
        #expect(result.failingKey == "x")
    }

    @Test("A failed write cannot be observed")
    func failedWriteObserved() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 2), 0, 10, .failed),
            entry(1, client: 1, .read(key: "x"), 20, 30, .ok(.read(2))),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(!result.isLinearizable)
        #expect(result.failingKey == "x")
    }

    @Test("An unknown write that is never observed is linearizable")
    func unknownWriteNeverObserved() {
        let history = [
            entry(0, client: 0, .write(key: "x", value: 1), 0, 10, .ok(.written)),
            entry(1, client: 1, .write(key: "x", value: 2), 20, nil, .unknown),
            entry(2, client: 2, .read(key: "x"), 30, 40, .ok(.read(1))),
            entry(3, client: 2, .read(key: "x"), 50, 60, .ok(.read(1))),
            // Pending (nil outcome) behaves like unknown.
            entry(4, client: 3, .write(key: "x", value: 3), 70, nil, nil),
        ]
        #expect(LinearizabilityChecker.check(history).isLinearizable)
    }

    @Test("Keys are checked independently and the failing key is reported")
    func perKeyIndependence() throws {
        let history = [
            // Key "a": concurrent and fine.
            entry(0, client: 0, .write(key: "a", value: 1), 0, 10, .ok(.written)),
            entry(1, client: 1, .read(key: "a"), 5, 15, .ok(.read(1))),
            // Key "b": stale read. Interleaved in time with "a", which must not excuse it.
            entry(2, client: 2, .write(key: "b", value: 7), 0, 4, .ok(.written)),
            entry(3, client: 3, .read(key: "b"), 6, 8, .ok(.read(nil))),
            // Key "c": fine.
            entry(4, client: 4, .read(key: "c"), 0, 1, .ok(.read(nil))),
        ]
        let result = LinearizabilityChecker.check(history)
        #expect(!result.isLinearizable)
        #expect(!result.timedOut)
        #expect(result.failingKey == "b")
        let explanation = try #require(result.explanation)
        #expect(explanation.contains("\"b\""))
        #expect(explanation.contains("#3"))
        #expect(!explanation.contains("#0"))

        // Without the bad key, the rest is fine.
        #expect(LinearizabilityChecker.check(history.filter { $0.operation.key != "b" }).isLinearizable)
    }

    @Test("A large random valid history is linearizable and checks quickly")
    func largeValidHistory() {
        let history = makeValidHistory(seed: 42, operations: 2_000, keys: ["a", "b", "c"], clients: 8)
        #expect(history.contains { $0.outcome == .unknown })
        var result: LinearizabilityResult?
        let elapsed = ContinuousClock().measure {
            result = LinearizabilityChecker.check(history)
        }
        #expect(result?.isLinearizable == true, "\(result?.explanation ?? "")")
        #expect(result?.timedOut == false)
        #expect((result?.checkedOperations ?? 0) > 1_500)
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }

    @Test("Several random valid histories are linearizable")
    func manyRandomValidHistories() {
        for seed in UInt64(1)...24 {
            // Vary the value domain (small domains make reads ambiguous) and the share of time-outs.
            let values: Int? = [nil, 3, 10][Int(seed % 3)]
            let history = makeValidHistory(
                seed: seed, operations: 300, keys: ["a", "b"], clients: 10,
                values: values, unknownPercent: seed % 2 == 0 ? 4 : 15
            )
            let result = LinearizabilityChecker.check(history)
            #expect(result.isLinearizable, "seed \(seed): \(result.explanation ?? "")")
        }
    }

    @Test("The large history with one read of a never-written value is not linearizable")
    func largeHistoryWithCorruptRead() throws {
        var history = makeValidHistory(seed: 42, operations: 2_000, keys: ["a", "b", "c"], clients: 8)
        let index = try #require(
            history.indices.first { index in
                guard index >= history.count / 2, case .read = history[index].operation else { return false }
                if case .ok = history[index].outcome { return true }
                return false
            })
        history[index].outcome = .ok(.read(1_000_000))
        var result: LinearizabilityResult?
        let elapsed = ContinuousClock().measure {
            result = LinearizabilityChecker.check(history)
        }
        let checked = try #require(result)
        #expect(!checked.isLinearizable)
        #expect(!checked.timedOut)
        #expect(checked.failingKey == history[index].operation.key)
        let explanation = try #require(checked.explanation)
        #expect(explanation.contains("#\(history[index].id) "))
        #expect(elapsed < .seconds(5), "took \(elapsed)")

        // The verdict does not depend on the order entries are passed in.
        var rng = CheckerTestRNG(state: 9)
        let shuffled = LinearizabilityChecker.check(history.shuffled(using: &rng))
        #expect(shuffled.failingKey == checked.failingKey)
        #expect(shuffled.explanation == checked.explanation)
    }

    @Test("A stale read in a large history is not linearizable")
    func largeHistoryWithStaleRead() throws {
        var history = makeValidHistory(seed: 5, operations: 2_000, keys: ["a", "b", "c"], clients: 8, values: nil)
        // Make a late read return the value an earlier, strictly preceding read of the key saw.
        let index = try #require(
            history.indices.last { index in
                guard index < history.count * 9 / 10, case .read = history[index].operation else { return false }
                if case .ok = history[index].outcome { return true }
                return false
            })
        let key = history[index].operation.key
        let current = history[index].outcome
        let stale = try #require(
            history[..<index].last { earlier in
                guard earlier.operation.key == key, case .ok(.read) = earlier.outcome, earlier.outcome != current,
                    let done = earlier.completeTime, done + 200 < history[index].invokeTime
                else { return false }
                return true
            })
        history[index].outcome = stale.outcome
        var result: LinearizabilityResult?
        let elapsed = ContinuousClock().measure {
            result = LinearizabilityChecker.check(history)
        }
        let checked = try #require(result)
        #expect(!checked.isLinearizable)
        #expect(!checked.timedOut)
        #expect(checked.failingKey == key)
        #expect(elapsed < .seconds(5), "took \(elapsed)")
    }

    @Test("Agrees with an exhaustive search on small random histories")
    func matchesBruteForce() {
        var rng = CheckerTestRNG(state: 2024)
        var verdicts: [Bool: Int] = [:]
        for _ in 0..<1_500 {
            let history = randomSmallHistory(&rng, count: Int.random(in: 1...7, using: &rng), keys: ["a", "a", "b"])
            let expected = exhaustivelyLinearizable(history)
            verdicts[expected, default: 0] += 1
            let result = LinearizabilityChecker.check(history)
            // Also force the relaxed pass and the final exact pass, which tiny histories never reach.
            let forced = LinearizabilityChecker.check(history, maxStatesPerKey: 1_000_000, firstPassStates: 0)
            #expect(result.isLinearizable == expected, "\(history)")
            #expect(forced.isLinearizable == expected, "\(history)")
            #expect(!result.timedOut && !forced.timedOut)
            if result.isLinearizable != expected || forced.isLinearizable != expected { return }
        }
        // The generator must exercise both verdicts.
        #expect(verdicts[true, default: 0] > 300 && verdicts[false, default: 0] > 300)
    }

    @Test("Forcing the relaxed and final passes gives the same verdicts on medium histories")
    func passesAgree() {
        var rng = CheckerTestRNG(state: 77)
        for seed in UInt64(100)..<160 {
            var history = makeValidHistory(seed: seed, operations: 80, keys: ["k"], clients: 5, values: 3, unknownPercent: 25)
            if seed % 2 == 0,
                let index = history.indices.filter({
                    if case .ok(.read) = history[$0].outcome { return true }
                    return false
                }).randomElement(using: &rng)
            {
                history[index].outcome = .ok(.read([nil, 0, 1, 2].randomElement(using: &rng)!))
            }
            let exact = LinearizabilityChecker.check(history, maxStatesPerKey: 500_000, firstPassStates: 500_000)
            let forced = LinearizabilityChecker.check(history, maxStatesPerKey: 500_000, firstPassStates: 0)
            #expect(!exact.timedOut && !forced.timedOut, "seed \(seed)")
            #expect(exact.isLinearizable == forced.isLinearizable, "seed \(seed)")
            if seed % 2 == 1 { #expect(exact.isLinearizable, "seed \(seed)") }
        }
    }

    @Test("An exhausted state budget reports a time-out, not a verdict")
    func stateBudget() throws {
        let history = makeValidHistory(seed: 7, operations: 500, keys: ["a"], clients: 8)
        let result = LinearizabilityChecker.check(history, maxStatesPerKey: 10)
        #expect(!result.isLinearizable)
        #expect(result.timedOut)
        #expect(result.failingKey == "a")
        let explanation = try #require(result.explanation)
        #expect(explanation.contains("gave up"))
    }

    @Test("HistoryRecorder assigns ids and reports pending operations as unknown")
    func recorder() throws {
        var recorder = HistoryRecorder()
        let write = recorder.invoke(client: 1, operation: .write(key: "x", value: 1), time: 10)
        let read = recorder.invoke(client: 2, operation: .read(key: "x"), time: 12)
        let pending = recorder.invoke(client: 3, operation: .write(key: "x", value: 2), time: 13)
        let timedOut = recorder.invoke(client: 4, operation: .write(key: "x", value: 3), time: 14)
        #expect(Set([write, read, pending, timedOut]).count == 4)
        recorder.complete(write, outcome: .ok(.written), time: 20)
        recorder.complete(read, outcome: .ok(.read(1)), time: 25)
        recorder.complete(timedOut, outcome: .unknown, time: 30)

        let entries = recorder.entries
        #expect(entries.count == 4)
        let byId = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
        let w = try #require(byId[write])
        #expect(w.client == 1 && w.invokeTime == 10 && w.completeTime == 20 && w.outcome == .ok(.written))
        let p = try #require(byId[pending])
        #expect(p.outcome == .unknown)
        #expect(p.completeTime == nil)
        #expect(p.operation == .write(key: "x", value: 2))
        let t = try #require(byId[timedOut])
        #expect(t.outcome == .unknown)
        #expect(t.completeTime == nil)
        #expect(LinearizabilityChecker.check(entries).isLinearizable)
    }
}
