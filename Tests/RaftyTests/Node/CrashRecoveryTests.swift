import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Testing

/// Data directories as a crash between two persistence steps leaves them, and inputs that used to
/// stop a node: each must start (or keep running) with every acknowledged command.
@Suite("RaftNode crash recovery", .timeLimit(.minutes(1)))
struct CrashRecoveryTests {
    static let address = "10.0.0.1:50051"
    static let membership = ClusterConfiguration(voters: [1], addresses: [1: address])

    static func command(_ index: UInt64, term: UInt64, _ text: String) -> Entry {
        Entry(term: term, index: index, payload: .command(Array(text.utf8)))
    }

    /// Writes a single-node data directory by hand.
    static func prepare(
        _ directory: String, hardState: HardState, entries: [Entry], snapshots: [(SnapshotMetadata, [UInt8])] = []
    ) throws {
        let storage = try RaftStorage.open(dataDirectory: directory)
        defer { storage.close() }
        try storage.stable.save(StableState(nodeID: 1, hardState: hardState, configuration: Self.membership))
        try storage.log.append(entries)
        for (metadata, bytes) in snapshots {
            let writer = try storage.snapshots.makeWriter(for: metadata)
            try writer.write(bytes)
            _ = try writer.commit()
        }
    }

    /// Node 1 alone on `directory`, with 10 ms ticks.
    static func configuration(_ directory: String) -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: 1)
        configuration.address = Self.address
        configuration.dataDirectory = directory
        configuration.minimumClusterSize = 1
        configuration.tickInterval = .milliseconds(10)
        return configuration
    }

    /// Runs node 1 alone on `directory` until `body` returns.
    static func withNode(
        _ directory: String, configure: (inout RaftNode.Configuration) -> Void = { _ in },
        _ body: (RaftNode, RecordingStateMachine) async throws -> Void
    ) async throws {
        var configuration = Self.configuration(directory)
        configure(&configuration)
        let machine = RecordingStateMachine()
        let node = try RaftNode(configuration: configuration, stateMachine: machine, transport: InProcessNetwork())
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await node.run() }
            try await eventually("node 1 leads") { node.status.state == .leader }
            try await body(node, machine)
            await node.stop()
        }
    }

    @Test("A log holding a term newer than the saved one (entries persisted before the term) starts with a raised term")
    func termBehindLog() async throws {
        // What `rafty serve` left when killed between appending its new term's no-op and saving
        // that term (the order before this fix): before, every start failed with "inconsistent terms".
        let directory = TemporaryDirectory("rafty-crash")
        defer { directory.remove() }
        try Self.prepare(
            directory.path, hardState: HardState(term: 1, vote: 1, commit: 1),
            entries: [Self.command(1, term: 1, "a=1"), Entry(term: 2, index: 2, payload: .noop)])
        try await Self.withNode(directory.path) { node, machine in
            #expect(node.status.term >= 3)
            _ = try await node.submitCommand(Array("b=2".utf8))
            #expect(machine.appliedCommands == ["a=1", "b=2"])
        }
    }

    @Test("A snapshot stored before the old log was dropped: the disagreeing entries are dropped, never applied")
    func staleSuffixAfterSnapshot() async throws {
        // A follower installed the leader's snapshot (index 3, term 3) over a log of an older term
        // and crashed before dropping it: before, the start failed ("inconsistent terms").
        let directory = TemporaryDirectory("rafty-crash")
        defer { directory.remove() }
        let snapshot = SnapshotMetadata(index: 3, term: 3, configuration: Self.membership)
        try Self.prepare(
            directory.path, hardState: HardState(term: 3, vote: nil, commit: 0),
            entries: (1...4).map { Self.command($0, term: 1, "stale\($0)=\($0)") },
            snapshots: [(snapshot, Array("x=1\ny=2\nz=3".utf8))])
        // A snapshot threshold near UInt64.max once trapped as soon as a snapshot existed.
        try await Self.withNode(
            directory.path, configure: { $0.snapshotThreshold = .max },
            { node, machine in
                _ = try await node.submitCommand(Array("e=5".utf8))
                #expect(machine.appliedCommands == ["x=1", "y=2", "z=3", "e=5"])
            })
    }

    @Test("A newest snapshot the state machine cannot restore: the node starts from the previous one and the log")
    func unrestorableNewestSnapshot() async throws {
        let directory = TemporaryDirectory("rafty-crash")
        defer { directory.remove() }
        try Self.prepare(
            directory.path, hardState: HardState(term: 1, vote: 1, commit: 4),
            entries: ["a=1", "b=2", "c=3", "d=4"].enumerated().map { Self.command(UInt64($0.offset + 1), term: 1, $0.element) },
            snapshots: [
                (SnapshotMetadata(index: 2, term: 1, configuration: Self.membership), Array("a=1\nb=2".utf8)),
                // RecordingStateMachine refuses a snapshot whose padding is damaged.
                (SnapshotMetadata(index: 3, term: 1, configuration: Self.membership), [0x61, 0, 1, 2, 3]),
            ])
        try await Self.withNode(directory.path) { node, machine in
            _ = try await node.submitCommand(Array("e=5".utf8))
            #expect(machine.appliedCommands == ["a=1", "b=2", "c=3", "d=4", "e=5"])
        }
    }

    @Test("An InstallSnapshot message without its bytes is dropped; the node keeps running")
    func snapshotMessageWithoutBytes() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.run {
            for id in UInt64(1)...3 { try cluster.start(id) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let term = cluster.node(leader).status.term
            let metadata = SnapshotMetadata(index: 1000, term: term, configuration: ClusterConfiguration(voters: [1, 2, 3]))
            // Before: the follower accepted it, found no bytes and its run() failed.
            await cluster.node(follower).receive(Message(from: leader, to: follower, term: term, body: .installSnapshot(metadata)), snapshot: nil)
            _ = try await cluster.node(follower).submitCommand(Array("after=1".utf8))
            try await eventually("the follower applied the command") { cluster.stateMachine(follower).appliedCommands == ["after=1"] }
            #expect(cluster.node(follower).status.state == .follower)
        }
    }

    @Test("A proposal already in the log when the node fails is answered 'outcome unknown', not 'not applied'")
    func inLogProposalOnFailure() async throws {
        let directory = TemporaryDirectory("rafty-crash")
        defer { directory.remove() }
        let node = try RaftNode(configuration: Self.configuration(directory.path), stateMachine: FailingStateMachine(), transport: InProcessNetwork())
        let running = Task { try await node.run() }
        try await eventually("node 1 leads") { node.status.state == .leader }
        do {
            _ = try await node.submitCommand(Array("boom".utf8))
            Issue.record("the failing command was acknowledged")
        } catch {
            // Before: shuttingDown ("not applied"), although the command is committed.
            #expect(error.code == .timedOut, "\(error)")
        }
        var error: (any Error)?
        do { try await running.value } catch let failure { error = failure }
        #expect((error as? RaftError)?.code == .stateMachine, "\(String(describing: error))")
        #expect((error as? RaftError)?.cause is FailingStateMachine.Boom, "\(String(describing: error))")
    }

    @Test("A state machine that cannot write a snapshot stops the node with a state-machine error carrying its cause")
    func snapshotFailureIsTheStateMachines() async throws {
        var configuration = Self.configuration("")
        configuration.persistDataOnDisk = false
        configuration.snapshotThreshold = 2
        let node = try RaftNode(configuration: configuration, stateMachine: FailingStateMachine(failSnapshots: true), transport: InProcessNetwork())
        let running = Task { try await node.run() }
        try await eventually("node 1 leads") { node.status.state == .leader }
        for index in 1...3 { _ = try? await node.submitCommand(Array("c\(index)".utf8)) }
        var error: (any Error)?
        do { try await running.value } catch let failure { error = failure }
        // Before: a storage error whose cause was only text.
        #expect((error as? RaftError)?.code == .stateMachine, "\(String(describing: error))")
        #expect((error as? RaftError)?.cause is FailingStateMachine.Boom, "\(String(describing: error))")
    }
}

/// Fails to apply the command "boom", and to write snapshots if told to.
final class FailingStateMachine: StateMachine {
    struct Boom: Error {}
    let failSnapshots: Bool
    init(failSnapshots: Bool = false) { self.failSnapshots = failSnapshots }
    func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        if commands.contains(where: { $0.bytes == Array("boom".utf8) }) { throw Boom() }
        return commands.map { _ in [] }
    }
    func query(_ request: [UInt8]) async throws -> [UInt8] { [] }
    func snapshot(to output: SnapshotOutput) async throws { if self.failSnapshots { throw Boom() } }
    func restore(from input: SnapshotInput) async throws {}
}
