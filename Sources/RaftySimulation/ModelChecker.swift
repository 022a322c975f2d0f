public import Rafty

/// Checks a history of any `DeterministicStateMachine` for linearizability, with the machine
/// itself as the sequential specification.
///
/// The search is Wing & Gong's, with Lowe's memoisation of (requests linearized, machine state),
/// as porcupine's `checkSingle` does it. A request with an ``SimulatedOutcome/unknown`` outcome may
/// take effect at any point after its invocation, or never: it has no return event, so it never
/// holds the search back, and the search succeeds once every answered request is linearized.
/// Such requests are what makes checking hard (each stays a candidate to the end), so a state is
/// pruned when an explored one had the same answered requests linearized, the same machine and a
/// subset of the unknown ones (skipping an unknown request is always allowed: the explored state
/// had every option this one has). Refused requests and reads whose answer is unknown constrain
/// nothing and are dropped.
public enum ModelChecker {
    /// Checks `history` part by part (`partition`), in the order of the parts' names.
    ///
    /// - Parameters:
    ///   - history: the clients' requests and what they saw.
    ///   - model: the machine whose sequential behaviour the history must match.
    ///   - partition: the part a request belongs to; requests of different parts must not affect
    ///     each other's answers.
    ///   - maxStates: how many states a part's search may remember before it gives up (the
    ///     result is then ``LinearizabilityResult/timedOut``, unless another part failed).
    public static func check<Machine: DeterministicStateMachine & Hashable>(
        _ history: [SimulatedHistoryEntry], model: Machine.Type, partition: (SimulatedRequest) -> String? = { _ in nil },
        maxStates: Int = 1_000_000
    ) -> LinearizabilityResult {
        var parts: [String: [SimulatedHistoryEntry]] = [:]
        for entry in history {
            switch entry.outcome {
            case .failed: continue
            case .unknown where entry.request.isRead: continue
            default: parts[partition(entry.request) ?? "", default: []].append(entry)
            }
        }
        var checked = 0
        var timedOut: (part: String, explanation: String)?
        for name in parts.keys.sorted() {
            let entries = parts[name]!.sorted { ($0.invokeTime, $0.id) < ($1.invokeTime, $1.id) }
            checked += entries.count
            var search = ModelSearch<Machine>(entries)
            switch search.run(maxStates: maxStates) {
            case .linearizable:
                continue
            case .notLinearizable(let explanation):
                return LinearizabilityResult(isLinearizable: false, checkedOperations: checked, failingKey: name, explanation: explanation)
            case .timedOut(let explanation):
                if timedOut == nil { timedOut = (name, explanation) }
            }
        }
        if let timedOut {
            return LinearizabilityResult(
                isLinearizable: false, checkedOperations: checked, failingKey: timedOut.part, explanation: timedOut.explanation, timedOut: true)
        }
        return LinearizabilityResult(isLinearizable: true, checkedOperations: checked)
    }
}

/// The search over one part of a history.
private struct ModelSearch<Machine: DeterministicStateMachine & Hashable> {
    enum Verdict {
        case linearizable
        case notLinearizable(String)
        case timedOut(String)
    }

    /// A call or return event in a doubly linked list (index 0 is the head sentinel).
    struct Event {
        var entry: Int
        var isCall: Bool
        /// The matching return event of a call (nil for an unknown outcome, which has none).
        var match: Int?
        var previous = 0
        var next: Int?
    }

    struct Memo: Hashable {
        /// The answered requests linearized.
        var answered: [UInt64]
        var machine: Machine
    }

    let entries: [SimulatedHistoryEntry]
    var events: [Event] = [Event(entry: -1, isCall: false, match: nil)]

    init(_ entries: [SimulatedHistoryEntry]) {
        self.entries = entries
        // Calls at their invocation, returns at their completion; at equal times calls first, so
        // operations that touch in time count as concurrent.
        var timeline: [(time: UInt64, isCall: Bool, entry: Int)] = []
        for (index, entry) in entries.enumerated() {
            timeline.append((entry.invokeTime, true, index))
            if case .ok = entry.outcome, let complete = entry.completeTime { timeline.append((complete, false, index)) }
        }
        timeline.sort { ($0.time, $0.isCall ? 0 : 1, $0.entry) < ($1.time, $1.isCall ? 0 : 1, $1.entry) }
        var callOf: [Int: Int] = [:]
        for item in timeline {
            let position = self.events.count
            self.events.append(Event(entry: item.entry, isCall: item.isCall, match: nil, previous: position - 1, next: nil))
            self.events[position - 1].next = position
            if item.isCall {
                callOf[item.entry] = position
            } else {
                self.events[callOf[item.entry]!].match = position
            }
        }
    }

    mutating func unlink(_ position: Int) {
        let event = self.events[position]
        self.events[event.previous].next = event.next
        if let next = event.next { self.events[next].previous = event.previous }
    }

    mutating func relink(_ position: Int) {
        let event = self.events[position]
        self.events[event.previous].next = position
        if let next = event.next { self.events[next].previous = position }
    }

    /// The answer `machine` gives to `entry`'s request, and the machine afterwards.
    func step(_ machine: Machine, _ entry: SimulatedHistoryEntry) -> (Machine, [UInt8]?) {
        if entry.request.isRead { return (machine, try? machine.query(entry.request.bytes)) }
        var next = machine
        // Index and term do not reach a deterministic machine's answer through the history.
        let answer = next.apply(CommittedCommand(index: 0, term: 0, bytes: entry.request.bytes))
        return (next, answer)
    }

    mutating func run(maxStates: Int) -> Verdict {
        var machine = Machine()
        var linearized = [UInt64](repeating: 0, count: (self.entries.count + 63) / 64)
        var pendingReturns = self.events.filter { !$0.isCall }.count
        var unknown = linearized
        for (index, entry) in self.entries.enumerated() where entry.outcome == .unknown {
            unknown[index / 64] |= 1 << UInt64(index % 64)
        }
        // Per (answered requests, machine): the sets of unknown requests explored with them.
        var memo: [Memo: [[UInt64]]] = [:]
        var states = 0
        var stack: [(call: Int, machine: Machine)] = []
        var deepest = 0
        var stuck = 0
        var cursor = self.events[0].next
        while pendingReturns > 0 {
            guard let position = cursor else { break }
            let event = self.events[position]
            if event.isCall {
                let entry = self.entries[event.entry]
                let (after, answer) = self.step(machine, entry)
                var fits = true
                if case .ok(let seen) = entry.outcome { fits = answer == seen }
                if fits {
                    var marked = linearized
                    marked[event.entry / 64] |= 1 << UInt64(event.entry % 64)
                    let key = Memo(answered: zip(marked, unknown).map { $0 & ~$1 }, machine: after)
                    let used = zip(marked, unknown).map { $0 & $1 }
                    let dominated = memo[key]?.contains { explored in zip(explored, used).allSatisfy { $0 & ~$1 == 0 } } ?? false
                    if !dominated {
                        memo[key, default: []].append(used)
                        states += 1
                        if states > maxStates {
                            return .timedOut("gave up after \(maxStates) states, \(deepest) of \(self.entries.count) requests linearized")
                        }
                        stack.append((position, machine))
                        deepest = max(deepest, stack.count)
                        machine = after
                        linearized = marked
                        self.unlink(position)
                        if let match = event.match {
                            self.unlink(match)
                            pendingReturns -= 1
                        }
                        cursor = self.events[0].next
                        continue
                    }
                }
                cursor = event.next
            } else {
                // The first pending return: its request cannot be linearized later, so undo.
                if stack.count >= deepest { stuck = event.entry }
                guard let (call, previous) = stack.popLast() else {
                    return .notLinearizable(self.explain(stuckAt: stuck))
                }
                let undone = self.events[call]
                if let match = undone.match {
                    self.relink(match)
                    pendingReturns += 1
                }
                self.relink(call)
                linearized[undone.entry / 64] &= ~(1 << UInt64(undone.entry % 64))
                machine = previous
                cursor = undone.next
            }
        }
        return .linearizable
    }

    func explain(stuckAt entry: Int) -> String {
        let stuck = self.entries[entry]
        let around = self.entries.filter { $0.invokeTime <= (stuck.completeTime ?? stuck.invokeTime) }.suffix(12)
        let lines = around.map { entry in
            let kind = entry.request.isRead ? "read" : "command"
            let outcome: String
            switch entry.outcome {
            case .ok(let bytes): outcome = "answered \(Self.show(bytes))"
            case .failed: outcome = "refused"
            case .unknown: outcome = "unknown"
            }
            let end = entry.completeTime.map { "\($0)" } ?? "-"
            return "  #\(entry.id) client \(entry.client) \(kind) \(Self.show(entry.request.bytes)) [\(entry.invokeTime), \(end)] \(outcome)"
        }
        return "no order of the requests explains the answer of #\(stuck.id); the requests up to it:\n" + lines.joined(separator: "\n")
    }

    /// Text when the bytes are UTF-8, else hex.
    static func show(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self), text.allSatisfy({ !$0.isNewline }) { return "\"\(text)\"" }
        return bytes.map { String($0, radix: 16) }.joined(separator: " ")
    }
}
