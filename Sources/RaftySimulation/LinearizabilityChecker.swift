// Linearizability checking for key/value register histories.
//
// The search is Wing & Gong's algorithm with Lowe's memoisation, structured like porcupine's
// `checkSingle`: a doubly linked list of call/return events, a backtracking stack, and a cache of
// (linearized set, model state) that prunes states already explored. Registers are independent, so
// the history is split per key (P-compositionality) and each key is searched on its own.
//
// Operations with an unknown outcome may take effect at any time after their invocation, or never.
// They therefore never appear as return events (that would force them to be linearized); they sit
// in a second list and are offered as candidates whenever their invocation precedes the first
// pending return. Because skipping one is always allowed, a state that has linearized a superset
// of the unknown operations of an explored state (same completed ops, same value) can do nothing
// new; the cache exploits that dominance so unknown writes cannot blow up the search.

/// The verdict of `LinearizabilityChecker.check`.
public struct LinearizabilityResult: Sendable, Hashable {
    /// True when every key's sub-history has a linearization.
    public var isLinearizable: Bool
    /// Number of operations that constrained the search (failed operations and unknown reads are
    /// dropped as they cannot be observed), summed over the keys checked before returning.
    public var checkedOperations: Int
    /// For a failure: the key whose sub-history is not linearizable, and a short human-readable explanation (the operations of that key, sorted by invoke time, with times and outcomes).
    public var failingKey: String?
    /// For a failure or time-out: why, followed by the key's operations around where the search got stuck.
    public var explanation: String?
    /// True when the search gave up (state budget exhausted) without a verdict; isLinearizable is then false and explanation says so.
    public var timedOut: Bool

    /// Creates a result.
    public init(
        isLinearizable: Bool,
        checkedOperations: Int,
        failingKey: String? = nil,
        explanation: String? = nil,
        timedOut: Bool = false
    ) {
        self.isLinearizable = isLinearizable
        self.checkedOperations = checkedOperations
        self.failingKey = failingKey
        self.explanation = explanation
        self.timedOut = timedOut
    }
}

/// Checks client histories against a sequential key/value register model (initial value nil).
public enum LinearizabilityChecker {
    /// Checks a whole history. Partitions by key (registers are independent), checks each key with the
    /// Wing–Gong–Lowe search (with P-compositionality per key and memoization of (linearized-set, state) as in Lowe's / porcupine's optimisation).
    ///
    /// Keys are checked in sorted order so the verdict and explanation are deterministic. The first
    /// key proven non-linearizable is reported; a key that exhausts `maxStatesPerKey` cached states
    /// is reported as timed out only if no other key is proven non-linearizable.
    public static func check(_ history: [HistoryEntry], maxStatesPerKey: Int = 2_000_000) -> LinearizabilityResult {
        var byKey: [String: [HistoryEntry]] = [:]
        for entry in history {
            byKey[entry.operation.key, default: []].append(entry)
        }

        var checked = 0
        var firstTimeout: (key: String, explanation: String)?
        for key in byKey.keys.sorted() {
            // Sorting makes the search independent of the caller's ordering.
            let entries = byKey[key, default: []].sorted { ($0.invokeTime, $0.id) < ($1.invokeTime, $1.id) }
            var search = RegisterSearch(entries: entries)
            checked += search.operationCount
            switch search.run(maxStates: maxStatesPerKey) {
            case .linearizable:
                continue
            case .notLinearizable(let stuckAt, let best):
                let reason = "key \"\(key)\" is not linearizable: at most \(best) of \(search.completedCount) "
                    + "completed operations could be linearized"
                    + (stuckAt.map { ", no valid order lets #\(entries[$0].id) complete" } ?? "")
                return LinearizabilityResult(
                    isLinearizable: false,
                    checkedOperations: checked,
                    failingKey: key,
                    explanation: reason + ".\n" + describe(entries, around: stuckAt)
                )
            case .timedOut(let states, let stuckAt):
                if firstTimeout == nil {
                    let reason = "search for key \"\(key)\" gave up after \(states) states (maxStatesPerKey "
                        + "\(maxStatesPerKey)) without a verdict"
                    firstTimeout = (key, reason + ".\n" + describe(entries, around: stuckAt))
                }
            }
        }
        if let timeout = firstTimeout {
            return LinearizabilityResult(
                isLinearizable: false,
                checkedOperations: checked,
                failingKey: timeout.key,
                explanation: timeout.explanation,
                timedOut: true
            )
        }
        return LinearizabilityResult(isLinearizable: true, checkedOperations: checked)
    }

    /// Lists a key's operations (sorted by invoke time); long histories are cut to a window around
    /// `around` (an index into `entries`) so the explanation stays readable.
    private static func describe(_ entries: [HistoryEntry], around: Int?) -> String {
        let before = 30, after = 10
        var range = entries.indices
        if entries.count > before + after + 1 {
            let center = around ?? 0
            let lower = max(0, center - before)
            range = lower..<min(entries.count, max(center, lower) + after + 1)
        }
        var lines: [String] = []
        if range.lowerBound > 0 { lines.append("  … \(range.lowerBound) earlier operations omitted") }
        for index in range {
            let marker = index == around ? "  <- stuck here" : ""
            lines.append("  " + describe(entries[index]) + marker)
        }
        if range.upperBound < entries.count {
            lines.append("  … \(entries.count - range.upperBound) later operations omitted")
        }
        return lines.joined(separator: "\n")
    }

    private static func describe(_ entry: HistoryEntry) -> String {
        let operation: String
        switch entry.operation {
        case .read: operation = "read"
        case .write(_, let value): operation = "write(\(value))"
        case .cas(_, let expected, let new): operation = "cas(\(show(expected)) -> \(new))"
        }
        let outcome: String
        switch entry.outcome {
        case .ok(.read(let value)): outcome = "ok(read \(show(value)))"
        case .ok(.written): outcome = "ok(written)"
        case .ok(.cas(let swapped)): outcome = "ok(swapped: \(swapped))"
        case .failed: outcome = "failed"
        case .unknown, nil: outcome = "unknown"
        }
        let end = entry.completeTime.map(String.init) ?? "∞"
        return "#\(entry.id) client \(entry.client): \(operation) [\(entry.invokeTime), \(end)] -> \(outcome)"
    }

    private static func show(_ value: Int?) -> String {
        value.map(String.init) ?? "nil"
    }
}

// MARK: - Search

/// A time on the search's event line; unknown operations complete at infinity.
private struct EventTime: Comparable {
    var raw: UInt64
    var isInfinite: Bool

    static func < (lhs: EventTime, rhs: EventTime) -> Bool {
        if lhs.isInfinite != rhs.isInfinite { return rhs.isInfinite }
        return lhs.raw < rhs.raw
    }
}

/// A register operation stripped of its key, with the result it must produce (nil = unconstrained).
private struct RegisterOperation {
    enum Kind {
        case read
        case write(Int)
        case cas(expected: Int?, new: Int)
    }

    var kind: Kind
    var required: KVResult?
    var invoke: UInt64
    var complete: EventTime
    /// Index into the key's sorted entries, for explanations.
    var entryIndex: Int

    /// Applies the operation to `state`; nil when its required result contradicts the model.
    func step(_ state: Int?) -> Int?? {
        switch kind {
        case .read:
            if let required, required != .read(state) { return nil }
            return .some(state)
        case .write(let value):
            if let required, required != .written { return nil }
            return .some(value)
        case .cas(let expected, let new):
            let swapped = state == expected
            if let required, required != .cas(swapped: swapped) { return nil }
            return .some(swapped ? new : state)
        }
    }
}

/// A fixed-size set of operation indices.
private struct OperationSet: Hashable {
    private(set) var words: [UInt64]

    init(capacity: Int) {
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    mutating func insert(_ index: Int) {
        words[index >> 6] |= 1 << UInt64(index & 63)
    }

    mutating func remove(_ index: Int) {
        words[index >> 6] &= ~(1 << UInt64(index & 63))
    }

    func isSubset(of other: OperationSet) -> Bool {
        for index in words.indices where words[index] & ~other.words[index] != 0 {
            return false
        }
        return true
    }
}

/// Cache key: which completed operations are linearized, and the register value.
private struct CompletedState: Hashable {
    var linearized: OperationSet
    var value: Int?
}

private enum SearchOutcome {
    case linearizable
    /// `stuckAt`: entry index of the operation whose return blocked the deepest attempt.
    case notLinearizable(stuckAt: Int?, best: Int)
    case timedOut(states: Int, stuckAt: Int?)
}

/// The WGL search over one key's sub-history.
private struct RegisterSearch {
    /// Operations that must be linearized (outcome `.ok`).
    private var completed: [RegisterOperation] = []
    /// Writes and CASes with unknown outcome: may be linearized any time after invocation, or never.
    private var uncertain: [RegisterOperation] = []

    // Main list: node 0 is the head sentinel, then one call and one return event per completed op.
    // Circular, so `next` of the last event is 0.
    private var next: [Int] = []
    private var prev: [Int] = []
    private var eventOp: [Int] = []
    private var eventIsCall: [Bool] = []
    private var eventTime: [EventTime] = []
    private var match: [Int] = []  // call event -> its return event

    // Uncertain list: node 0 is the head sentinel, node i + 1 is uncertain[i], sorted by invoke time.
    private var uNext: [Int] = []
    private var uPrev: [Int] = []

    var operationCount: Int { completed.count + uncertain.count }
    var completedCount: Int { completed.count }

    init(entries: [HistoryEntry]) {
        for (index, entry) in entries.enumerated() {
            let kind: RegisterOperation.Kind
            switch entry.operation {
            case .read: kind = .read
            case .write(_, let value): kind = .write(value)
            case .cas(_, let expected, let new): kind = .cas(expected: expected, new: new)
            }
            switch entry.outcome {
            case .ok(let result):
                // A malformed completion before invocation is clamped; a missing one is "never returned".
                let complete = entry.completeTime.map { EventTime(raw: max($0, entry.invokeTime), isInfinite: false) }
                    ?? EventTime(raw: 0, isInfinite: true)
                completed.append(RegisterOperation(
                    kind: kind, required: result, invoke: entry.invokeTime, complete: complete, entryIndex: index))
            case .failed:
                continue  // never took effect
            case .unknown, nil:
                switch kind {
                case .read:
                    continue  // an unobserved read has no effect
                case .cas(let expected, let new) where expected == new:
                    continue  // can never change the value
                default:
                    uncertain.append(RegisterOperation(
                        kind: kind, required: nil, invoke: entry.invokeTime,
                        complete: EventTime(raw: 0, isInfinite: true), entryIndex: index))
                }
            }
        }
        buildLists()
    }

    private mutating func buildLists() {
        // Events sorted by time; at equal times calls come first so equal-time operations overlap.
        var events: [(time: EventTime, isReturn: Bool, op: Int)] = []
        events.reserveCapacity(completed.count * 2)
        for (index, op) in completed.enumerated() {
            events.append((EventTime(raw: op.invoke, isInfinite: false), false, index))
            events.append((op.complete, true, index))
        }
        events.sort { lhs, rhs in
            if lhs.time != rhs.time { return lhs.time < rhs.time }
            if lhs.isReturn != rhs.isReturn { return !lhs.isReturn }
            return lhs.op < rhs.op
        }
        let count = events.count + 1
        next = Array(repeating: 0, count: count)
        prev = Array(repeating: 0, count: count)
        eventOp = Array(repeating: -1, count: count)
        eventIsCall = Array(repeating: false, count: count)
        eventTime = Array(repeating: EventTime(raw: 0, isInfinite: false), count: count)
        match = Array(repeating: -1, count: count)
        var callEvent = Array(repeating: 0, count: completed.count)
        for (offset, event) in events.enumerated() {
            let node = offset + 1
            next[node] = (node + 1) % count
            prev[node] = node - 1
            eventOp[node] = event.op
            eventIsCall[node] = !event.isReturn
            eventTime[node] = event.time
            if event.isReturn {
                match[callEvent[event.op]] = node
            } else {
                callEvent[event.op] = node
            }
        }
        next[0] = count > 1 ? 1 : 0
        prev[0] = count - 1

        // `uncertain` is already in invoke order because entries were sorted by invoke time.
        let uCount = uncertain.count + 1
        uNext = (0..<uCount).map { ($0 + 1) % uCount }
        uPrev = (0..<uCount).map { ($0 + uCount - 1) % uCount }
    }

    // Dancing-links removal/reinsertion; reinsertion must undo removals in LIFO order.
    private mutating func lift(_ call: Int) {
        let ret = match[call]
        next[prev[call]] = next[call]
        prev[next[call]] = prev[call]
        next[prev[ret]] = next[ret]
        prev[next[ret]] = prev[ret]
    }

    private mutating func unlift(_ call: Int) {
        let ret = match[call]
        prev[next[ret]] = ret
        next[prev[ret]] = ret
        prev[next[call]] = call
        next[prev[call]] = call
    }

    private enum Cursor {
        /// Scanning the main list for completed-op calls before the first pending return.
        case main(Int)
        /// Scanning uncertain ops invoked no later than `barrier` (the first pending return).
        case uncertain(Int, barrier: EventTime)
    }

    private struct Frame {
        var isUncertain: Bool
        var node: Int
        var previousValue: Int?
        var barrier: EventTime
    }

    /// Runs the search, caching at most `maxStates` states.
    mutating func run(maxStates: Int) -> SearchOutcome {
        var linearized = OperationSet(capacity: completed.count)
        var linearizedUncertain = OperationSet(capacity: uncertain.count)
        // For each (completed set, value): the antichain of uncertain sets explored with it.
        var cache: [CompletedState: [OperationSet]] = [:]
        var states = 1
        cache[CompletedState(linearized: linearized, value: nil)] = [linearizedUncertain]

        var value: Int? = nil
        var stack: [Frame] = []
        var remaining = completed.count
        var best = 0
        var stuckAt: Int? = nil
        var cursor = Cursor.main(next[0])

        // Returns false when an explored state dominates (same completed set and value, subset of uncertain ops).
        func remember(_ completedSet: OperationSet, _ newValue: Int?, _ uncertainSet: OperationSet) -> Bool {
            let key = CompletedState(linearized: completedSet, value: newValue)
            var isNew = true
            if let explored = cache[key] {
                if explored.contains(where: { $0.isSubset(of: uncertainSet) }) {
                    isNew = false
                } else {
                    var antichain = explored.filter { !uncertainSet.isSubset(of: $0) }
                    antichain.append(uncertainSet)
                    cache[key] = antichain
                }
            } else {
                cache[key] = [uncertainSet]
            }
            if isNew { states += 1 }
            return isNew
        }

        while remaining > 0 {
            if states > maxStates {
                return .timedOut(states: states, stuckAt: stuckAt)
            }
            switch cursor {
            case .main(let node):
                if eventIsCall[node] {
                    let op = eventOp[node]
                    if let newValue = completed[op].step(value) {
                        linearized.insert(op)
                        if remember(linearized, newValue, linearizedUncertain) {
                            stack.append(Frame(isUncertain: false, node: node, previousValue: value, barrier: eventTime[node]))
                            value = newValue
                            lift(node)
                            remaining -= 1
                            cursor = .main(next[0])
                            continue
                        }
                        linearized.remove(op)
                    }
                    cursor = .main(next[node])
                } else {
                    // First pending return: only uncertain ops invoked by then may still go first.
                    let done = completed.count - remaining
                    if done > best || stuckAt == nil {
                        best = max(best, done)
                        stuckAt = completed[eventOp[node]].entryIndex
                    }
                    cursor = .uncertain(uNext[0], barrier: eventTime[node])
                }
            case .uncertain(let node, let barrier):
                if node != 0, EventTime(raw: uncertain[node - 1].invoke, isInfinite: false) <= barrier {
                    let op = node - 1
                    // Unconstrained result, so step never fails; a no-op is dominated by the current state.
                    if let newValue = uncertain[op].step(value), newValue != value {
                        linearizedUncertain.insert(op)
                        if remember(linearized, newValue, linearizedUncertain) {
                            stack.append(Frame(isUncertain: true, node: node, previousValue: value, barrier: barrier))
                            value = newValue
                            uNext[uPrev[node]] = uNext[node]
                            uPrev[uNext[node]] = uPrev[node]
                            cursor = .main(next[0])
                            continue
                        }
                        linearizedUncertain.remove(op)
                    }
                    cursor = .uncertain(uNext[node], barrier: barrier)
                } else {
                    // Every candidate failed: undo the most recent choice and try its successor.
                    guard let frame = stack.popLast() else {
                        return .notLinearizable(stuckAt: stuckAt, best: best)
                    }
                    value = frame.previousValue
                    if frame.isUncertain {
                        let node = frame.node
                        linearizedUncertain.remove(node - 1)
                        uPrev[uNext[node]] = node
                        uNext[uPrev[node]] = node
                        // The main list is back to how it was when this op was chosen, so is the barrier.
                        cursor = .uncertain(uNext[node], barrier: frame.barrier)
                    } else {
                        linearized.remove(eventOp[frame.node])
                        unlift(frame.node)
                        remaining += 1
                        cursor = .main(next[frame.node])
                    }
                }
            }
        }
        return .linearizable
    }
}
