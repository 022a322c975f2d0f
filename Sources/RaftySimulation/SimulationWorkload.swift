public import Rafty

/// Your state machine in the node simulation: the requests its clients send, and how their
/// history is checked.
///
/// The simulation runs the runtime's own node engine on every node, with your
/// ``Machine`` applying what commits there, and throws the usual faults at it: crashes (also
/// between two storage steps), graceful stops with requests in flight, frozen nodes, partitions and
/// one-way links, lost and late messages, snapshots without their bytes, leadership transfers and
/// membership changes. Clients send your requests to any node (followers forward them) and record
/// what they saw; at the end ``check(_:maxStates:)`` decides whether that history is linearizable.
///
/// By default the sequential specification is your machine itself (a request's expected answer is
/// what a single copy of the machine answers, applying the history's requests one by one), which
/// checks the replication, not the machine's semantics: every answer must be one a single copy
/// could have given in some order that respects real time.
///
/// ```swift
/// struct CounterWorkload: SimulationWorkload {
///     mutating func nextRequest(_ kind: SimulatedRequest.Kind, using random: inout some RandomNumberGenerator) -> SimulatedRequest {
///         kind != .command && Bool.random(using: &random) ? .read([]) : .command([UInt8.random(in: 1...9, using: &random)])
///     }
/// }
/// let report = CounterWorkload().simulate(seed: 42)
/// #expect(report.failure == nil, "\(report)")
/// ```
public protocol SimulationWorkload: Sendable {
    /// The state machine every simulated node runs (`Hashable`: the checker remembers the states
    /// it explored).
    associatedtype Machine: DeterministicStateMachine & Hashable

    /// The next request of a client.
    ///
    /// - Parameters:
    ///   - kind: ``SimulatedRequest/Kind/any`` for most clients; the lease scenarios ask for a
    ///     ``SimulatedRequest/Kind/read`` or a ``SimulatedRequest/Kind/command``.
    ///   - random: the simulation's generator: draw from it only, so a seed replays the run.
    mutating func nextRequest(_ kind: SimulatedRequest.Kind, using random: inout some RandomNumberGenerator) -> SimulatedRequest

    /// Splits the history into parts checked on their own (requests of different parts never
    /// affect each other's answers: different keys of a map). Nil, the default: one part.
    func partition(of request: SimulatedRequest) -> String?

    /// Checks a client history. The default holds it against ``Machine`` as the sequential
    /// specification, part by part (``ModelChecker``).
    ///
    /// - Parameters:
    ///   - history: the clients' requests and what they saw.
    ///   - maxStates: how many states the search may remember per part before it gives up (the
    ///     report then counts an unchecked history instead of a verdict).
    func check(_ history: [SimulatedHistoryEntry], maxStates: Int) -> LinearizabilityResult
}

extension SimulationWorkload {
    /// One part: every request may affect every answer.
    public func partition(of request: SimulatedRequest) -> String? { nil }

    /// Holds the history against ``Machine`` (see ``ModelChecker``).
    public func check(_ history: [SimulatedHistoryEntry], maxStates: Int) -> LinearizabilityResult {
        ModelChecker.check(history, model: Machine.self, partition: self.partition(of:), maxStates: maxStates)
    }

    /// Runs the node simulation with this workload: a pure function of `seed` (the same seed
    /// replays the same run), so a failing seed is a reproducible bug report.
    ///
    /// - Parameters:
    ///   - seed: every random choice derives from it.
    ///   - nodeCount: the cluster's size (3 or 5 are the interesting ones).
    ///   - clients: how many clients send requests, one at a time each.
    ///   - faultMilliseconds: how long (simulated) the faults go on; the cluster then settles for
    ///     two seconds before the history is checked.
    /// - Returns: what happened, with ``NodeSimulationReport/failure`` set if a safety check or
    ///   the linearizability check failed.
    public func simulate(seed: UInt64, nodeCount: Int = 3, clients: Int = 4, faultMilliseconds: UInt64 = 4_000) -> NodeSimulationReport {
        var simulation = NodeSimulation(seed: seed, nodeCount: nodeCount, workload: self)
        simulation.clients = clients
        simulation.faultMilliseconds = faultMilliseconds
        return simulation.run()
    }
}

/// A client request in the node simulation.
public struct SimulatedRequest: Sendable, Hashable {
    /// What the simulation asks a workload for.
    public enum Kind: Sendable, Hashable {
        /// Any request the workload likes.
        case any
        /// A read.
        case read
        /// A command.
        case command
    }

    /// The bytes: a command for `RaftNode.submitCommand(_:timeout:)` or a query for
    /// `RaftNode.read(_:consistency:timeout:)`.
    public var bytes: [UInt8]
    /// For a read, its consistency; nil for a command.
    public var consistency: RaftNode.ReadConsistency?

    /// Whether it is a read.
    public var isRead: Bool { self.consistency != nil }

    /// A command, applied once it commits.
    public static func command(_ bytes: [UInt8]) -> SimulatedRequest { SimulatedRequest(bytes: bytes, consistency: nil) }

    /// A read; linearizable by default (a stale read would fail the check).
    public static func read(_ bytes: [UInt8], _ consistency: RaftNode.ReadConsistency = .linearizable) -> SimulatedRequest {
        SimulatedRequest(bytes: bytes, consistency: consistency)
    }
}

/// What a simulated client saw.
public enum SimulatedOutcome: Sendable, Hashable {
    /// The answer: the request took effect once, between its invocation and now.
    case ok([UInt8])
    /// Refused: it did not take effect.
    case failed
    /// Unknown (a time-out, a lost connection): it may take effect at any time after its
    /// invocation, or never.
    case unknown
}

/// One request of a simulated client's history. Times are simulated microseconds.
public struct SimulatedHistoryEntry: Sendable, Hashable {
    /// Unique within a history.
    public var id: Int
    /// The client that sent it.
    public var client: Int
    /// The request.
    public var request: SimulatedRequest
    /// When the client sent it.
    public var invokeTime: UInt64
    /// When the client saw the outcome; nil for an unknown one.
    public var completeTime: UInt64?
    /// What the client saw.
    public var outcome: SimulatedOutcome

    /// Creates an entry.
    public init(id: Int, client: Int, request: SimulatedRequest, invokeTime: UInt64, completeTime: UInt64?, outcome: SimulatedOutcome) {
        self.id = id
        self.client = client
        self.request = request
        self.invokeTime = invokeTime
        self.completeTime = completeTime
        self.outcome = outcome
    }
}
