import RaftCore
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

@testable import Rafty

/// A test clock: `now` is the system's plus whatever `advance` added; while paused, sleeps do
/// not end, as if the process were stopped (SIGSTOP), though `now` runs on.
final class TestClock: NodeClock {
    private let state = Mutex((paused: false, offset: Duration.zero))
    var now: ContinuousClock.Instant { ContinuousClock.now + self.state.withLock { $0.offset } }
    func pause(_ paused: Bool) { self.state.withLock { $0.paused = paused } }
    func advance(by duration: Duration) { self.state.withLock { $0.offset += duration } }
    func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
        while self.state.withLock({ $0.paused }) { try await Task.sleep(for: .milliseconds(1)) }
    }
}

/// A state machine whose `apply` blocks while frozen: the node's event loop stops with it.
final class FreezableStateMachine: StateMachine {
    let inner = RecordingStateMachine()
    private let state = Mutex((frozen: false, blocked: false))
    var isBlocked: Bool { self.state.withLock { $0.blocked } }
    func freeze(_ frozen: Bool) { self.state.withLock { $0.frozen = frozen } }

    func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        if self.state.withLock({ $0.frozen }) {
            self.state.withLock { $0.blocked = true }
            while self.state.withLock({ $0.frozen }) { try await Task.sleep(for: .milliseconds(1)) }
            self.state.withLock { $0.blocked = false }
        }
        return try await self.inner.apply(commands)
    }
    func query(_ request: [UInt8]) async throws -> [UInt8] { try await self.inner.query(request) }
    func snapshot(to output: SnapshotOutput) async throws { try await self.inner.snapshot(to: output) }
    func restore(from input: SnapshotInput) async throws { try await self.inner.restore(from: input) }
}

@Suite("Lease reads", .timeLimit(.minutes(1)))
struct LeaseReadTests {
    @Test("A leader paused past its lease (loop and timers) answers no lease read with a value the new leader overwrote")
    func pausedLeader() async throws {
        let cluster = TestCluster(size: 3)
        var nodes: [NodeID: RaftNode] = [:]
        var clocks: [NodeID: TestClock] = [:]
        var machines: [NodeID: FreezableStateMachine] = [:]
        for id in UInt64(1)...3 {
            var configuration = cluster.configuration(id)
            let clock = TestClock()
            configuration.clock = clock
            let machine = FreezableStateMachine()
            nodes[id] = try RaftNode(configuration: configuration, stateMachine: machine, transport: cluster.inProcessNetwork)
            clocks[id] = clock
            machines[id] = machine
        }
        let all = nodes
        try await withThrowingDiscardingTaskGroup { group in
            for node in all.values { group.addTask { try await node.run() } }
            var leader: NodeID = 0
            try await eventually("one leader") {
                let leaders = all.filter { $0.value.status.state == .leader }.map(\.key)
                leader = leaders.first ?? 0
                return leaders.count == 1
            }
            let old = all[leader]!
            _ = try await old.submitCommand(Array("k=old".utf8))
            #expect(try await old.read(Array("k".utf8), consistency: .lease) == Array("old".utf8))

            // Pause the leader: its timers stop, and its loop blocks applying the next command.
            clocks[leader]!.pause(true)
            machines[leader]!.freeze(true)
            let frozenWrite = Task { try? await old.submitCommand(Array("f=1".utf8)) }
            try await eventually("the leader's loop is blocked") { machines[leader]!.isBlocked }
            // What arrives while a process is stopped waits in socket buffers, unread.
            cluster.setIsolated(leader, true)

            let others = all.keys.filter { $0 != leader }
            var next: NodeID = 0
            try await eventually("a new leader among \(others)") {
                next = others.first { all[$0]!.status.state == .leader } ?? 0
                return next != 0
            }
            _ = try await all[next]!.submitCommand(Array("k=new".utf8), timeout: .seconds(10))

            // Lease reads queue at the paused leader, then it resumes.
            let queued = old.pendingEventCount  // the loop is blocked: this only grows
            let reads = (0..<4).map { _ in
                Task { try await old.read(Array("k".utf8), consistency: .lease, timeout: .seconds(2)) }
            }
            try await eventually("the reads are queued") { old.pendingEventCount >= queued + 4 }
            clocks[leader]!.pause(false)
            machines[leader]!.freeze(false)
            var stale = 0
            for read in reads {
                if let value = try? await read.value, value == Array("old".utf8) { stale += 1 }
            }
            // Before: the resumed leader counted one tick for the whole pause, and its lease
            // answered the old value.
            #expect(stale == 0, "\(stale) of \(reads.count) lease reads returned the overwritten value")
            cluster.setIsolated(leader, false)
            _ = await frozenWrite.value
            for node in all.values { await node.stop() }
        }
    }
}
