import Rafty

/// The simulation's own workload: writes, compare-and-sets, linearizable and lease reads of three
/// registers on a ``KVStateMachine``, every written value unique, checked per key with the
/// register-specialised ``LinearizabilityChecker``.
public struct KVWorkload: SimulationWorkload {
    /// The registers.
    public typealias Machine = KVStateMachine

    static let keys = ["a", "b", "c"]
    /// The next value written (unique values make histories easy to check).
    var nextValue = 1

    /// Creates the workload.
    public init() {}

    /// A random key, then: 35 % writes, 15 % compare-and-sets, 25 % linearizable and 25 % lease
    /// reads; a lease scenario's reads and commands are of the first key.
    public mutating func nextRequest(_ kind: SimulatedRequest.Kind, using random: inout some RandomNumberGenerator) -> SimulatedRequest {
        let key = Self.keys[Int(UInt64.random(in: 0...UInt64(Self.keys.count - 1), using: &random))]
        switch kind {
        case .read:
            return .read(KVStateMachine.encode(.read(key: Self.keys[0])), .lease)
        case .command:
            return .command(KVStateMachine.encode(self.write(key: Self.keys[0])))
        case .any:
            switch UInt64.random(in: 0...99, using: &random) {
            case 0..<35:
                return .command(KVStateMachine.encode(self.write(key: key)))
            case 35..<50:
                let expected =
                    self.nextValue > 1 && UInt64.random(in: 0...99, using: &random) < 70
                    ? Int(UInt64.random(in: 1...UInt64(self.nextValue - 1), using: &random)) : nil
                defer { self.nextValue += 1 }
                return .command(KVStateMachine.encode(.cas(key: key, expected: expected, new: self.nextValue)))
            case 50..<75:
                return .read(KVStateMachine.encode(.read(key: key)))
            default:
                return .read(KVStateMachine.encode(.read(key: key)), .lease)
            }
        }
    }

    private mutating func write(key: String) -> KVOperation {
        defer { self.nextValue += 1 }
        return .write(key: key, value: self.nextValue)
    }

    /// The request's key.
    public func partition(of request: SimulatedRequest) -> String? { KVStateMachine.decode(request.bytes)?.key }

    /// Checks the history with ``LinearizabilityChecker`` (registers, per key).
    public func check(_ history: [SimulatedHistoryEntry], maxStates: Int) -> LinearizabilityResult {
        var entries: [HistoryEntry] = []
        for entry in history {
            guard let operation = KVStateMachine.decode(entry.request.bytes) else {
                return LinearizabilityResult(isLinearizable: false, checkedOperations: 0, explanation: "request #\(entry.id) is not a KV operation")
            }
            let outcome: KVOutcome
            switch entry.outcome {
            case .ok(let bytes):
                guard let result = KVStateMachine.decodeResult(bytes) else {
                    return LinearizabilityResult(isLinearizable: false, checkedOperations: 0, explanation: "request #\(entry.id) got an unreadable result")
                }
                outcome = .ok(result)
            case .failed: outcome = .failed
            case .unknown: outcome = .unknown
            }
            entries.append(
                HistoryEntry(
                    id: entry.id, client: entry.client, operation: operation, invokeTime: entry.invokeTime, completeTime: entry.completeTime,
                    outcome: outcome))
        }
        return LinearizabilityChecker.check(entries, maxStatesPerKey: maxStates)
    }
}
