import NIOCore
public import RaftCore
public import Rafty
public import RaftyGRPC
import Synchronization

import class NIOPosix.MultiThreadedEventLoopGroup

#if canImport(Glibc)
    import Glibc
#endif

/// The nodes of one Raft cluster running in this process, for tests of code built on Rafty: each
/// node has its own data directory and state machine, and reaches the others over the transport
/// the cluster was made with (in memory or loopback gRPC), so one test runs unchanged over both.
///
/// ```swift
/// try await LocalCluster.with(size: 3, transport: .grpc, stateMachine: { _ in MyMachine() }) { cluster in
///     try cluster.startAll()
///     let leader = try await cluster.leader()
///     _ = try await cluster.node(leader).submitCommand(Array("x=1".utf8))
///     try await cluster.waitUntil("every node applied it") {
///         cluster.ids.allSatisfy { cluster.node($0).status.lastApplied >= 2 }
///     }
/// }
/// ```
///
/// Waiting (``leader(excluding:timeout:)``, ``waitUntil(_:timeout:_:)``) re-checks its condition
/// whenever a node announces a change on `RaftNode.events()` (state, leader, applied index), and
/// at least every quarter second for conditions that depend on something else.
public final class LocalCluster<Machine: StateMachine>: Sendable {
    /// How the nodes reach each other.
    public enum Transport: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// An `InProcessNetwork`: messages are handed over in memory.
        case inProcess
        /// A `GRPCTransport` per node, each listening on its own loopback port.
        case grpc

        /// "in-process" or "gRPC".
        public var description: String {
            switch self {
            case .inProcess: "in-process"
            case .grpc: "gRPC"
            }
        }
    }

    /// A node the cluster started, with what it runs on.
    private struct Member {
        var node: RaftNode
        var machine: Machine
        var link: PartitionableTransport
        var grpc: GRPCTransport?
        /// The gRPC transport's event loop, made for this start (shut down after it).
        var eventLoop: MultiThreadedEventLoopGroup?
        var run: Task<Void, any Error>
        var watch: Task<Void, Never>
    }

    private struct State {
        var members: [NodeID: Member] = [:]
        var isolated: Set<NodeID> = []
        /// The first error a node's `run()` threw (the cluster's shutdown rethrows it).
        var failure: (any Error)?
        /// Bumped on every node event; waiters compare it.
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    /// The transport the nodes use.
    public let transport: Transport
    /// The number of nodes in the initial configuration (ids 1...size).
    public let size: Int
    /// The directory that holds every node's data directory (`node-<id>`), removed by ``shutdown()``.
    public let directory: String
    /// The in-memory network of an ``Transport/inProcess`` cluster, to attach nodes or handlers of
    /// a test's own (unused over gRPC).
    public let inProcessNetwork = InProcessNetwork()
    private let ports: [NodeID: Int]
    private let makeStateMachine: @Sendable (NodeID) -> Machine
    private let configure: @Sendable (inout RaftNode.Configuration) -> Void
    private let grpcConfiguration: @Sendable (NodeID) throws -> GRPCTransport.Configuration
    private let state = Mutex(State())

    /// Makes a cluster of `size` nodes (ids 1...size; more ids can be started later, for
    /// membership changes) and starts none of them.
    ///
    /// - Parameters:
    ///   - size: how many nodes form the cluster.
    ///   - transport: how the nodes reach each other.
    ///   - extraNodes: how many ids beyond `size` get an address (nodes to add later).
    ///   - configure: adjusts every node's configuration (see ``configuration(_:)`` for the defaults).
    ///   - grpcConfiguration: node `id`'s gRPC transport configuration (TLS, logger), made at
    ///     every start of it; ignored in process.
    ///   - stateMachine: makes a node's state machine, afresh at every start.
    public init(
        size: Int, transport: Transport = .inProcess, extraNodes: Int = 0,
        configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void = { _ in },
        grpcConfiguration: @escaping @Sendable (NodeID) throws -> GRPCTransport.Configuration = { _ in GRPCTransport.Configuration() },
        stateMachine: @escaping @Sendable (NodeID) -> Machine
    ) {
        precondition(size >= 1 && extraNodes >= 0, "a cluster has at least one node")
        self.transport = transport
        self.size = size
        self.makeStateMachine = stateMachine
        self.configure = configure
        self.grpcConfiguration = grpcConfiguration
        var template = Array("/tmp/rafty-cluster-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.directory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        var ports: [NodeID: Int] = [:]
        if transport == .grpc {
            for id in 1...UInt64(size + extraNodes) { ports[id] = LoopbackPorts.next() }
        }
        self.ports = ports
    }

    /// Runs `body` with a new cluster and shuts it down afterwards (also when `body` throws).
    public static func with<Result>(
        size: Int, transport: Transport = .inProcess, extraNodes: Int = 0,
        configure: @escaping @Sendable (inout RaftNode.Configuration) -> Void = { _ in },
        grpcConfiguration: @escaping @Sendable (NodeID) throws -> GRPCTransport.Configuration = { _ in GRPCTransport.Configuration() },
        stateMachine: @escaping @Sendable (NodeID) -> Machine,
        _ body: (LocalCluster) async throws -> Result
    ) async throws -> Result {
        let cluster = LocalCluster(
            size: size, transport: transport, extraNodes: extraNodes, configure: configure, grpcConfiguration: grpcConfiguration,
            stateMachine: stateMachine)
        return try await cluster.run { try await body(cluster) }
    }

    /// Runs `body`, then shuts the cluster down (also when `body` throws; its error wins over a
    /// node's).
    public func run<Result>(_ body: () async throws -> Result) async throws -> Result {
        let result: Result
        do {
            result = try await body()
        } catch {
            try? await self.shutdown()
            throw error
        }
        try await self.shutdown()
        return result
    }

    // MARK: - Nodes

    /// Node `id`'s address: `10.0.0.<id>:50051` in process, a loopback port with gRPC.
    public func address(_ id: NodeID) -> String {
        switch self.transport {
        case .inProcess: return "10.0.0.\(id):50051"
        case .grpc:
            guard let port = self.ports[id] else { preconditionFailure("node \(id) has no port: make the cluster with more extraNodes") }
            return "127.0.0.1:\(port)"
        }
    }

    /// Node `id`'s configuration before the cluster's `configure`: the other initial nodes as
    /// peers, its data directory under ``directory``, ticks of 10 ms in process and 50 ms over
    /// gRPC (the default, so that a starved event loop on a busy machine does not miss
    /// heartbeats), and a minimum cluster size of at most 3.
    public func configuration(_ id: NodeID) -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: id)
        configuration.address = self.address(id)
        configuration.peers = (1...UInt64(self.size)).filter { $0 != id }.map { self.address($0) }
        configuration.dataDirectory = "\(self.directory)/node-\(id)"
        configuration.tickInterval = self.transport == .inProcess ? .milliseconds(10) : .milliseconds(50)
        configuration.minimumClusterSize = min(3, self.size)
        return configuration
    }

    /// Starts node `id` (again, after ``stop(_:)``: from its data directory, with a fresh state
    /// machine and transport) and returns it.
    ///
    /// - Parameters:
    ///   - id: the node to start, in 1...(size + extraNodes).
    ///   - configure: adjusts this start's configuration after the cluster's own `configure`.
    ///   - wrapTransport: wraps the node's transport (to record or delay what it sends).
    @discardableResult
    public func start(
        _ id: NodeID, configure: (inout RaftNode.Configuration) -> Void = { _ in },
        wrapTransport: (any RaftTransport) -> any RaftTransport = { $0 }
    ) throws -> RaftNode {
        var configuration = self.configuration(id)
        self.configure(&configuration)
        configure(&configuration)
        // Over gRPC each node runs as `rafty serve` runs it: its peer connections on an event loop
        // of their own, which the node's tasks prefer (unless the configuration names a group).
        var eventLoop: MultiThreadedEventLoopGroup?
        var grpc: GRPCTransport?
        if self.transport == .grpc {
            var grpcConfiguration = try self.grpcConfiguration(id)
            if grpcConfiguration.eventLoopGroup == nil {
                eventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                grpcConfiguration.eventLoopGroup = eventLoop
            }
            grpc = GRPCTransport(configuration: grpcConfiguration)
        }
        let link = PartitionableTransport(wrapTransport(grpc ?? self.inProcessNetwork), isolated: self.state.withLock { $0.isolated.contains(id) })
        let machine = self.makeStateMachine(id)
        let node: RaftNode
        do {
            node = try RaftNode(configuration: configuration, stateMachine: machine, transport: link)
        } catch {
            Self.shutDown(grpc, eventLoop)
            throw error
        }
        let previous = self.state.withLock { state in state.members[id] }
        precondition(previous.map { $0.node.status.state == .down } ?? true, "node \(id) is running: stop it first")
        previous?.grpc?.close()
        Self.shutDown(previous?.grpc, previous?.eventLoop)
        let events = node.events()
        let run = Task(executorPreference: grpc?.taskExecutor) {
            do {
                try await node.run()
            } catch {
                self.state.withLock { state in if state.failure == nil { state.failure = error } }
                throw error
            }
        }
        let watch = Task {
            for await _ in events { self.changed() }
            self.changed()
        }
        self.state.withLock { $0.members[id] = Member(node: node, machine: machine, link: link, grpc: grpc, eventLoop: eventLoop, run: run, watch: watch) }
        self.changed()
        return node
    }

    /// Shuts down a stopped node's transport, then its event loop, in the background.
    private static func shutDown(_ grpc: GRPCTransport?, _ eventLoop: MultiThreadedEventLoopGroup?) {
        Task {
            await grpc?.shutdown()
            try? await eventLoop?.shutdownGracefully()
        }
    }

    /// Starts nodes 1...``size``.
    public func startAll() throws {
        for id in 1...UInt64(self.size) { try self.start(id) }
    }

    /// Stops node `id` (its data directory stays, for a restart).
    public func stop(_ id: NodeID) async {
        guard let member = self.state.withLock({ $0.members[id] }) else { return }
        await member.node.stop()
        _ = await member.run.result
        self.changed()
    }

    /// Node `id` (the latest start of it).
    public func node(_ id: NodeID) -> RaftNode {
        guard let member = self.state.withLock({ $0.members[id] }) else { preconditionFailure("node \(id) was never started") }
        return member.node
    }

    /// Node `id`'s state machine (the one of its latest start).
    public func stateMachine(_ id: NodeID) -> Machine {
        guard let member = self.state.withLock({ $0.members[id] }) else { preconditionFailure("node \(id) was never started") }
        return member.machine
    }

    /// The ids of the nodes started so far, running or not.
    public var ids: [NodeID] { self.state.withLock { $0.members.keys.sorted() } }

    /// The ids of the nodes that run (not stopped or failed).
    public var runningIDs: [NodeID] { self.ids.filter { self.node($0).status.state != .down } }

    /// Cuts node `id` off from the others (`true`) or reconnects it: while cut off, the Raft
    /// messages it sends and receives are lost and calls to and from it fail as unreachable.
    /// It lasts across restarts.
    public func setIsolated(_ id: NodeID, _ isolated: Bool) {
        let link = self.state.withLock { state in
            if isolated { state.isolated.insert(id) } else { state.isolated.remove(id) }
            return state.members[id]?.link
        }
        link?.isIsolated = isolated
        self.changed()
    }

    // MARK: - Waiting

    /// Waits until exactly one running node outside `excluded` leads, and returns it.
    public func leader(excluding excluded: Set<NodeID> = [], timeout: Duration = .seconds(20)) async throws -> NodeID {
        var leader: NodeID?
        try await self.waitUntil("one leader among \(self.ids.filter { !excluded.contains($0) }); \(self.describe())", timeout: timeout) {
            let leaders = self.ids.filter { !excluded.contains($0) && self.node($0).status.state == .leader }
            leader = leaders.count == 1 ? leaders[0] : nil
            return leader != nil
        }
        return leader!
    }

    /// Waits until `condition` holds, re-checking it whenever a node announces a change.
    ///
    /// - Throws: ``LocalClusterTimeout`` naming `description` once `timeout` passed.
    public func waitUntil(
        _ description: @autoclosure () -> String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = self.state.withLock { $0.generation }
            if try await condition() { return }
            let now = ContinuousClock.now
            guard now < deadline else { throw LocalClusterTimeout(description: "\(description()) (after \(timeout))") }
            await self.nextChange(after: seen, before: min(deadline, now + .milliseconds(250)))
        }
    }

    /// Every node's state, term, leader, commit index and members, for failure messages.
    public func describe() -> String {
        self.ids.map { id in
            let status = self.node(id).status
            let leader = status.leaderID.map(String.init) ?? "-"
            return "\(id): \(status.state) term \(status.term) leader \(leader) commit \(status.commitIndex) members \(status.members.map(\.id).sorted())"
        }.joined(separator: "; ")
    }

    // MARK: - Shutting down

    /// Stops every node, closes the transports and removes ``directory``.
    ///
    /// - Throws: the first error a node's `run()` threw while the cluster ran (a node that
    ///   failed on its own, such as on a storage error).
    public func shutdown() async throws {
        let members = self.state.withLock { Array($0.members.values) }
        for member in members { await member.node.stop() }
        for member in members {
            _ = await member.run.result
            await member.watch.value
            await member.grpc?.shutdown()
            try? await member.eventLoop?.shutdownGracefully()
        }
        _ = system("rm -rf '\(self.directory)'")
        if let failure = self.state.withLock({ $0.failure }) { throw failure }
    }

    // MARK: - Change notification

    private func changed() {
        let waiters = self.state.withLock { state in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after the next change since `seen`, or at `deadline`.
    private func nextChange(after seen: UInt64, before deadline: ContinuousClock.Instant) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let token: UInt64? = self.state.withLock { state in
                guard state.generation == seen else { return nil }
                state.nextWaiter &+= 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let token else { return continuation.resume() }
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.state.withLock { $0.waiters.removeValue(forKey: token) }?.resume()
            }
        }
    }
}

/// A condition a ``LocalCluster`` waited for did not hold in time.
public struct LocalClusterTimeout: Error, CustomStringConvertible {
    /// What was awaited, and the cluster's state at the time.
    public var description: String
}
