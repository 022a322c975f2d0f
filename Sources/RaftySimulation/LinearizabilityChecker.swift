// Linearizability checking for key/value register histories.
//
// The search is Wing & Gong's algorithm with Lowe's memoisation, structured like porcupine's
// `checkSingle`: a doubly linked list of call/return events, a backtracking stack, and a cache of
// (linearized set, model state) that prunes states already explored. Registers are independent, so
// the history is split per key (P-compositionality) and each key is searched on its own.
//
// Operations with an unknown outcome may take effect at any time after their invocation, or never.
// They never appear as return events (that would force them to be linearized); they sit in a
// second list and are offered as candidates whenever their invocation precedes the first pending
// return. They are what makes checking hard (each one stays a candidate forever), so:
//  - skipping one is always allowed, so a state that used a superset of the unknown ops of an
//    explored state (same completed ops, same value) is dominated, and the cache prunes it;
//  - identical unknown ops are interchangeable, so only the earliest unused one is tried;
//  - one is only tried when the next operation could observe the value it produces;
//  - a cheap relaxed pass, in which unknown ops may be reused, refutes most violations quickly
//    (see `RegisterSearch.run`).

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
        check(history, maxStatesPerKey: maxStatesPerKey, firstPassStates: nil)
    }

    /// `firstPassStates` overrides the budget of the initial exact pass (tests use 0 to force the
    /// relaxed and final passes on small histories).
    static func check(_ history: [HistoryEntry], maxStatesPerKey: Int, firstPassStates: Int?) -> LinearizabilityResult {
        var byKey: [String: [HistoryEntry]] = [:]
        for entry in history {
            byKey[entry.operation.key, default: []].append(entry)
        }

        var checked = 0
        var firstTimeout: (key: String, explanation: String)?
        for key in byKey.keys.sorted() {
            // Sorting makes the search independent of the caller's ordering.
            let entries = byKey[key, default: []].sorted { ($0.invokeTime, $0.id) < ($1.invokeTime, $1.id) }
            let search = RegisterSearch(entries: entries)
            checked += search.operationCount
            switch search.run(maxStates: maxStatesPerKey, firstPassStates: firstPassStates) {
            case .linearizable:
                continue
            case .notLinearizable(let stuckAt, let best):
                let reason =
                    "key \"\(key)\" is not linearizable: at most \(best) of \(search.completedCount) "
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
                    let reason =
                        "search for key \"\(key)\" gave up after \(states) states (maxStatesPerKey "
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
        let before = 30
        let after = 10
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
    enum Kind: Hashable {
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
    /// Zobrist-style fingerprint kept up to date on every change, so hashing is O(1) instead of
    /// O(words) for the millions of cache probes a search can make.
    private var fingerprint: UInt64 = 0

    init(capacity: Int) {
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    /// SplitMix64 finaliser: a fixed pseudo-random key per index (deterministic across runs).
    private static func key(_ index: Int) -> UInt64 {
        var z = UInt64(truncatingIfNeeded: index) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func insert(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit == 0 else { return }
        words[index >> 6] |= bit
        fingerprint ^= Self.key(index)
    }

    mutating func remove(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit != 0 else { return }
        words[index >> 6] &= ~bit
        fingerprint ^= Self.key(index)
    }

    func contains(_ index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    func isSubset(of other: OperationSet) -> Bool {
        for index in words.indices where words[index] & ~other.words[index] != 0 {
            return false
        }
        return true
    }

    static func == (lhs: OperationSet, rhs: OperationSet) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(fingerprint)
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

/// Circular doubly linked list over nodes 0..<count (node 0 is the head sentinel) with
/// dancing-links removal: `restore` undoes `remove` exactly when calls are undone in LIFO order.
private struct Links {
    var next: [Int]
    var prev: [Int]

    init(count: Int) {
        next = (0..<count).map { ($0 + 1) % count }
        prev = (0..<count).map { ($0 + count - 1) % count }
    }

    mutating func remove(_ node: Int) {
        next[prev[node]] = next[node]
        prev[next[node]] = prev[node]
    }

    mutating func restore(_ node: Int) {
        prev[next[node]] = node
        next[prev[node]] = node
    }
}

/// The WGL search over one key's sub-history. Immutable once built; each pass works on its own
/// copies of the lists. (Methods are non-mutating on purpose: in debug builds a mutating method
/// calling a non-mutating one copies `self`, retaining every array, on each call.)
private struct RegisterSearch {
    /// Operations that must be linearized (outcome `.ok`).
    private var completed: [RegisterOperation] = []
    /// Writes and CASes with unknown outcome: may be linearized any time after invocation, or never.
    private var uncertain: [RegisterOperation] = []

    // Main list: node 0 is the head sentinel, then one call and one return event per completed op,
    // sorted by time.
    private var events = Links(count: 1)
    private var eventOp: [Int] = []
    private var eventIsCall: [Bool] = []
    private var eventTime: [EventTime] = []
    private var match: [Int] = []  // call event -> its return event

    // Uncertain list: node 0 is the head sentinel, node i + 1 is uncertain[i], sorted by invoke time.
    private var pendingUncertain = Links(count: 1)
    /// For each uncertain op, the previous uncertain op with the identical operation, or -1.
    private var identicalBefore: [Int] = []
    /// Values some uncertain CAS could act on (so an uncertain op producing one may start a chain).
    private var uncertainCASExpected: Set<Int?> = []

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
                let complete =
                    entry.completeTime.map { EventTime(raw: max($0, entry.invokeTime), isInfinite: false) }
                    ?? EventTime(raw: 0, isInfinite: true)
                completed.append(
                    RegisterOperation(
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
                    uncertain.append(
                        RegisterOperation(
                            kind: kind, required: nil, invoke: entry.invokeTime,
                            complete: EventTime(raw: 0, isInfinite: true), entryIndex: index))
                }
            }
        }
        buildLists()
    }

    private mutating func buildLists() {
        // Events sorted by time; at equal times calls come first so equal-time operations overlap.
        var order: [(time: EventTime, isReturn: Bool, op: Int)] = []
        order.reserveCapacity(completed.count * 2)
        for (index, op) in completed.enumerated() {
            order.append((EventTime(raw: op.invoke, isInfinite: false), false, index))
            order.append((op.complete, true, index))
        }
        order.sort { lhs, rhs in
            if lhs.time != rhs.time { return lhs.time < rhs.time }
            if lhs.isReturn != rhs.isReturn { return !lhs.isReturn }
            return lhs.op < rhs.op
        }
        let count = order.count + 1
        events = Links(count: count)
        eventOp = Array(repeating: -1, count: count)
        eventIsCall = Array(repeating: false, count: count)
        eventTime = Array(repeating: EventTime(raw: 0, isInfinite: false), count: count)
        match = Array(repeating: -1, count: count)
        var callEvent = Array(repeating: 0, count: completed.count)
        for (offset, event) in order.enumerated() {
            let node = offset + 1
            eventOp[node] = event.op
            eventIsCall[node] = !event.isReturn
            eventTime[node] = event.time
            if event.isReturn {
                match[callEvent[event.op]] = node
            } else {
                callEvent[event.op] = node
            }
        }

        // `uncertain` is already in invoke order because entries were sorted by invoke time.
        pendingUncertain = Links(count: uncertain.count + 1)
        for op in uncertain {
            if case .cas(let expected, _) = op.kind { uncertainCASExpected.insert(expected) }
        }
        var lastOfKind: [RegisterOperation.Kind: Int] = [:]
        identicalBefore = uncertain.indices.map { index in
            defer { lastOfKind[uncertain[index].kind] = index }
            return lastOfKind[uncertain[index].kind] ?? -1
        }
    }

    /// Decides this key.
    ///
    /// Uncertain ops are what make the search expensive: the exact pass must remember which ones
    /// were used. A relaxed pass, in which they may take effect any number of times, only needs
    /// (completed set, value) states: if even it finds no order, none exists, and it refutes most
    /// violations cheaply. So: a bounded exact pass first (valid histories usually finish here),
    /// then the relaxed pass; if its order uses no uncertain op twice it is real, otherwise a final
    /// exact pass runs, skipping every state the relaxed pass proved dead.
    func run(maxStates: Int, firstPassStates: Int?) -> SearchOutcome {
        if uncertain.isEmpty {
            return search(relaxed: false, maxStates: maxStates, dead: [:]).outcome
        }
        // Linearizable histories typically need only a few states per operation.
        let firstBudget = firstPassStates ?? max(2_000, 10 * operationCount)
        let first = search(relaxed: false, maxStates: min(maxStates, firstBudget), dead: [:])
        guard case .timedOut = first.outcome, first.states < maxStates else { return first.outcome }
        var used = first.states

        let relaxed = search(relaxed: true, maxStates: maxStates - used, dead: [:])
        used += relaxed.states
        switch relaxed.outcome {
        case .notLinearizable:
            return relaxed.outcome
        case .timedOut(_, let stuckAt):
            return .timedOut(states: used, stuckAt: stuckAt)
        case .linearizable:
            if isRealizable(relaxed.uncertainUses) { return .linearizable }
        }

        let exact = search(relaxed: false, maxStates: maxStates - used, dead: relaxed.dead)
        if case .timedOut(let states, let stuckAt) = exact.outcome {
            return .timedOut(states: used + states, stuckAt: stuckAt)
        }
        return exact.outcome
    }

    /// Whether a relaxed order's uses of uncertain ops can be served by distinct, already invoked ops
    /// of the same kind. Barriers never decrease along an order, so earliest-first assignment is optimal.
    private func isRealizable(_ uses: [(op: Int, barrier: EventTime)]) -> Bool {
        var nextMember: [RegisterOperation.Kind: Int] = [:]
        for use in uses {
            let kind = uncertain[use.op].kind
            var member = nextMember[kind] ?? use.op
            while member < uncertain.count, uncertain[member].kind != kind { member += 1 }
            guard member < uncertain.count,
                EventTime(raw: uncertain[member].invoke, isInfinite: false) <= use.barrier
            else { return false }
            nextMember[kind] = member + 1
        }
        return true
    }

    /// Whether linearizing uncertain op `op` next can be skipped because another choice from the same
    /// state reaches everything it could.
    private func isRedundant(uncertain op: Int, linearized: OperationSet, relaxed: Bool, afterUncertain: Bool) -> Bool {
        // Identical uncertain ops are interchangeable once both are invoked, so only the earliest
        // pending one is tried; otherwise k identical timed-out writes explode into 2^k states.
        // (Linearized ops of one kind always form a prefix, so the immediate predecessor suffices.
        // When ops are reusable, the earliest one always stands for all of them.)
        let earlier = identicalBefore[op]
        if earlier >= 0, relaxed || !linearized.contains(earlier) { return true }
        // A blind write straight after another uncertain op erases it: same as skipping that op.
        if afterUncertain, case .write = uncertain[op].kind { return true }
        return false
    }

    /// What the completed ops that may go next (calls before the first pending return) would accept
    /// as the current value without overwriting it. An uncertain op is only worth linearizing now if
    /// one of them, or an uncertain CAS, can observe its result: followed directly by a write, it is
    /// dominated by doing that write without it (explored first); by an uncertain write, likewise.
    /// Returns true when some op accepts almost any value (a failed CAS).
    private func nextObservers(_ events: Links, into values: inout [Int?]) -> Bool {
        values.removeAll(keepingCapacity: true)
        var node = events.next[0]
        while eventIsCall[node] {
            let op = completed[eventOp[node]]
            switch (op.required, op.kind) {
            case (.read(let value)?, _): values.append(value)
            case (.cas(swapped: true)?, .cas(let expected, _)): values.append(expected)
            case (.cas(swapped: false)?, _): return true
            default: break
            }
            node = events.next[node]
        }
        return false
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

    private struct Pass {
        var outcome: SearchOutcome
        var states: Int
        /// After a successful relaxed pass: every explored state not on the final order (all failed).
        var dead: [CompletedState: [OperationSet]]
        /// After a success: the uncertain ops in the order, with the barrier each was chosen under.
        var uncertainUses: [(op: Int, barrier: EventTime)]
    }

    /// One WGL search caching at most `maxStates` states; `relaxed` lets uncertain ops be reused.
    /// States whose (completed set, value) is in `dead` are known to fail and are skipped.
    private func search(relaxed: Bool, maxStates: Int, dead: [CompletedState: [OperationSet]]) -> Pass {
        var events = self.events
        var pending = pendingUncertain
        var linearized = OperationSet(capacity: completed.count)
        var linearizedUncertain = OperationSet(capacity: relaxed ? 0 : uncertain.count)
        // For each (completed set, value): the antichain of uncertain sets explored with it.
        var cache: [CompletedState: [OperationSet]] = [:]
        var states = 1
        cache[CompletedState(linearized: linearized, value: nil)] = [linearizedUncertain]

        var value: Int? = nil
        var stack: [Frame] = []
        var remaining = completed.count
        var best = 0
        var stuckAt: Int? = nil
        var cursor = Cursor.main(events.next[0])
        // Values the next completed op could observe, for the current barrier (see `nextObservers`).
        var observable: [Int?] = []
        var observesAnything = false

        // Returns false when an explored state dominates (same completed set and value, subset of
        // uncertain ops: skipping an uncertain op is always allowed, so fewer used can only help).
        func remember(_ completedSet: OperationSet, _ newValue: Int?, _ uncertainSet: OperationSet) -> Bool {
            let key = CompletedState(linearized: completedSet, value: newValue)
            if dead[key] != nil { return false }
            if let explored = cache[key] {
                if explored.contains(where: { $0.isSubset(of: uncertainSet) }) { return false }
                var antichain = explored.filter { !uncertainSet.isSubset(of: $0) }
                antichain.append(uncertainSet)
                cache[key] = antichain
            } else {
                cache[key] = [uncertainSet]
            }
            states += 1
            return true
        }

        while remaining > 0 {
            if states > maxStates {
                return Pass(outcome: .timedOut(states: states, stuckAt: stuckAt), states: states, dead: [:], uncertainUses: [])
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
                            events.remove(node)
                            events.remove(match[node])
                            remaining -= 1
                            cursor = .main(events.next[0])
                            continue
                        }
                        linearized.remove(op)
                    }
                    cursor = .main(events.next[node])
                } else {
                    // First pending return: only uncertain ops invoked by then may still go first.
                    let done = completed.count - remaining
                    if done > best || stuckAt == nil {
                        best = max(best, done)
                        stuckAt = completed[eventOp[node]].entryIndex
                    }
                    observesAnything = nextObservers(events, into: &observable)
                    cursor = .uncertain(pending.next[0], barrier: eventTime[node])
                }
            case .uncertain(let node, let barrier):
                if node != 0, EventTime(raw: uncertain[node - 1].invoke, isInfinite: false) <= barrier {
                    let op = node - 1
                    let afterUncertain = stack.last?.isUncertain == true
                    if !isRedundant(uncertain: op, linearized: linearizedUncertain, relaxed: relaxed, afterUncertain: afterUncertain),
                        let newValue = uncertain[op].step(value),
                        newValue != value,  // a no-op is dominated by the current state
                        observesAnything || observable.contains(newValue) || uncertainCASExpected.contains(newValue)
                    {
                        if !relaxed { linearizedUncertain.insert(op) }
                        if remember(linearized, newValue, linearizedUncertain) {
                            stack.append(Frame(isUncertain: true, node: node, previousValue: value, barrier: barrier))
                            value = newValue
                            if !relaxed { pending.remove(node) }
                            cursor = .main(events.next[0])
                            continue
                        }
                        if !relaxed { linearizedUncertain.remove(op) }
                    }
                    cursor = .uncertain(pending.next[node], barrier: barrier)
                } else {
                    // Every candidate failed: undo the most recent choice and try its successor.
                    guard let frame = stack.popLast() else {
                        return Pass(outcome: .notLinearizable(stuckAt: stuckAt, best: best), states: states, dead: [:], uncertainUses: [])
                    }
                    value = frame.previousValue
                    if frame.isUncertain {
                        if !relaxed {
                            linearizedUncertain.remove(frame.node - 1)
                            pending.restore(frame.node)
                        }
                        // The main list is back to how it was when this op was chosen, so is the barrier.
                        observesAnything = nextObservers(events, into: &observable)
                        cursor = .uncertain(pending.next[frame.node], barrier: frame.barrier)
                    } else {
                        linearized.remove(eventOp[frame.node])
                        events.restore(match[frame.node])
                        events.restore(frame.node)
                        remaining += 1
                        cursor = .main(events.next[frame.node])
                    }
                }
            }
        }

        // Success: record the uncertain ops used and, for a later exact pass, which states failed.
        var uses: [(op: Int, barrier: EventTime)] = []
        var pathSet = OperationSet(capacity: completed.count)
        var pathValue: Int? = nil
        cache[CompletedState(linearized: pathSet, value: nil)] = nil
        for frame in stack {
            if frame.isUncertain {
                uses.append((frame.node - 1, frame.barrier))
                pathValue = uncertain[frame.node - 1].step(pathValue) ?? pathValue
            } else {
                pathSet.insert(eventOp[frame.node])
                pathValue = completed[eventOp[frame.node]].step(pathValue) ?? pathValue
            }
            // States on the successful path were never refuted; every other cached state was.
            cache[CompletedState(linearized: pathSet, value: pathValue)] = nil
        }
        return Pass(outcome: .linearizable, states: states, dead: relaxed ? cache : [:], uncertainUses: uses)
    }
}
