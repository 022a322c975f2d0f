import RaftCore
import RaftyTestSupport
import RaftyTesting
import Synchronization
import Testing

@testable import Rafty

/// Checks, at the moment a node sends an acknowledgement, that what it acknowledges is already in
/// its stores: an append acknowledged up to `i` has entries up to `i` that agree with the
/// leader's, a granted vote is saved with its term.
final class DurabilityCheckingTransport: RaftTransport {
    let network: InProcessNetwork
    let stores: [NodeID: RaftStorage]
    private let violations = Mutex<[String]>([])
    private let checked = Mutex((appends: 0, votes: 0))

    init(network: InProcessNetwork, stores: [NodeID: RaftStorage]) {
        self.network = network
        self.stores = stores
    }

    var foundViolations: [String] { self.violations.withLock { $0 } }
    var checkedCounts: (appends: Int, votes: Int) { self.checked.withLock { $0 } }

    private func record(_ violation: String) { self.violations.withLock { $0.append(violation) } }

    func check(_ message: Message) {
        guard let own = self.stores[message.from] else { return }
        switch message.body {
        case .appendResponse(let response) where !response.rejected && response.index > 0:
            self.checked.withLock { $0.appends += 1 }
            let log = own.log
            guard log.lastIndex >= response.index else {
                return self.record("node \(message.from) acknowledged index \(response.index) with \(log.lastIndex) stored")
            }
            guard let leader = self.stores[message.to]?.log else { return }
            // Every stored entry up to the acknowledged index must be the leader's.
            let low = max(log.firstIndex, leader.firstIndex)
            let high = min(response.index, leader.lastIndex)
            guard low <= high else { return }
            for index in low...high {
                let mine = try? log.term(at: index)
                let theirs = try? leader.term(at: index)
                if let mine, let theirs, mine != theirs {
                    return self.record(
                        "node \(message.from) acknowledged \(response.index) holding term \(mine) at \(index), leader \(message.to) term \(theirs)")
                }
            }
        case .voteResponse(granted: true):
            self.checked.withLock { $0.votes += 1 }
            let hard = own.stable.state.hardState
            if hard.term != message.term || hard.vote != message.to {
                self.record("node \(message.from) granted its vote in term \(message.term) to \(message.to) with \(hard) saved")
            }
        default:
            break
        }
    }

    func serve(_ handler: any RaftTransportHandler, at address: String) async throws {
        try await self.network.serve(handler, at: address)
    }
    func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        self.check(message)
        await self.network.send(message, snapshot: snapshot, to: address)
    }
    func askNodeID(at address: String) async throws(RaftError) -> PeerInfo { try await self.network.askNodeID(at: address) }
    func leader(at address: String) async throws(RaftError) -> (id: NodeID, address: String)? { try await self.network.leader(at: address) }
    func forward(_ request: ForwardedRequest, to address: String, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        try await self.network.forward(request, to: address, timeout: timeout)
    }
    func committedMembership(at address: String) async throws(RaftError) -> CommittedMembership? {
        try await self.network.committedMembership(at: address)
    }
}

@Suite("Persistence order", .timeLimit(.minutes(1)))
struct PersistenceOrderTests {
    @Test("Appends and votes are acknowledged only once stored; a deposed leader's conflicting entries are gone once it acknowledges the new leader's snapshot")
    func acknowledgedMeansStored() async throws {
        let cluster = TestCluster(size: 3)
        var stores: [NodeID: RaftStorage] = [:]
        for id in UInt64(1)...3 { stores[id] = try RaftStorage.inMemory() }
        let transport = DurabilityCheckingTransport(network: cluster.inProcessNetwork, stores: stores)
        let all = stores
        try await cluster.run {
            for id in UInt64(1)...3 {
                try cluster.start(
                    id,
                    configure: { configuration in
                        configuration.makeStorage = { all[id]! }
                        configuration.snapshotThreshold = 10
                        configuration.trailingLogs = 2
                    },
                    wrapTransport: { _ in transport })
            }
            let first = try await cluster.leader()
            for i in 0..<15 { _ = try await cluster.node(first).submitCommand(Array("a\(i)=\(i)".utf8)) }
            // Cut the leader off; what it appends now only it holds.
            cluster.setIsolated(first, true)
            let orphans = (0..<5).map { i in
                Task { try? await cluster.node(first).submitCommand(Array("orphan\(i)=\(i)".utf8), timeout: .seconds(1)) }
            }
            let second = try await cluster.leader(excluding: [first])
            // Enough writes that the new leader snapshots past everything the old one holds.
            for i in 0..<30 { _ = try await cluster.node(second).submitCommand(Array("b\(i)=\(i)".utf8)) }
            for orphan in orphans { _ = await orphan.value }
            cluster.setIsolated(first, false)
            try await eventually("the deposed leader caught up") {
                cluster.stateMachine(first).appliedCommands.last == "b29=29"
            }
            #expect(!cluster.stateMachine(first).appliedCommands.contains { $0.hasPrefix("orphan") })
            #expect(cluster.stateMachine(first).restoreCount >= 1, "the deposed leader caught up from a snapshot")
            let counts = transport.checkedCounts
            #expect(counts.appends > 50 && counts.votes >= 2, "\(counts)")
            #expect(transport.foundViolations.isEmpty, "\(transport.foundViolations)")
        }
    }
}

/// A peer that only records what it receives.
final class StubPeer: RaftTransportHandler {
    let nodeID: NodeID
    private let received = Mutex<[Message]>([])
    init(_ id: NodeID) { self.nodeID = id }
    var messages: [Message] { self.received.withLock { $0 } }
    var peerInfo: PeerInfo { PeerInfo(id: self.nodeID, isVoter: true) }
    func receive(_ message: Message, snapshot: [UInt8]?) async { self.received.withLock { $0.append(message) } }
    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer {
        throw RaftError(.notLeader, "a stub")
    }
}

extension PersistenceOrderTests {
    @Test("A vote granted in a term the node adopted earlier (from a vote it refused) is saved before it is sent")
    func voteInAdoptedTerm() async throws {
        let cluster = TestCluster(size: 3)
        let storage = try RaftStorage.inMemory()
        let transport = DurabilityCheckingTransport(network: cluster.inProcessNetwork, stores: [1: storage])
        let clock = TestClock()
        let stubs = [StubPeer(2), StubPeer(3)]
        try await withThrowingDiscardingTaskGroup { group in
            for stub in stubs { group.addTask { try await cluster.inProcessNetwork.serve(stub, at: cluster.address(stub.nodeID)) } }
            try cluster.start(
                1,
                configure: { configuration in
                    configuration.makeStorage = { storage }
                    configuration.clock = clock
                },
                wrapTransport: { _ in transport })
            let node = cluster.node(1)
            try await eventually("node 1 runs") { node.status.members.count == 3 }
            // Node 2 leads term 1 and gives node 1 one entry.
            let entry = Entry(term: 1, index: 1, payload: .noop)
            await node.receive(
                Message(from: 2, to: 1, term: 1, body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0, entries: [entry], commit: 0))), snapshot: nil)
            try await eventually("node 1 follows node 2") { node.status.term == 1 && node.status.leaderID == 2 }
            // Time passes: node 1 stops honouring node 2's lease.
            clock.advance(by: .seconds(5))
            try await eventually("node 1 gave up on node 2") { node.status.leaderID == nil }
            // Node 3 campaigns in term 5 with a shorter log: refused, but term 5 is adopted.
            await node.receive(Message(from: 3, to: 1, term: 5, body: .vote(VoteRequest(lastLogIndex: 0, lastLogTerm: 0))), snapshot: nil)
            try await eventually("node 1 adopted term 5") { node.status.term == 5 }
            // Node 2 campaigns in the same term with an up-to-date log: granted, in a Ready that
            // changes only the vote.
            await node.receive(Message(from: 2, to: 1, term: 5, body: .vote(VoteRequest(lastLogIndex: 1, lastLogTerm: 1))), snapshot: nil)
            try await eventually("node 1 granted its vote to node 2") {
                stubs[0].messages.contains { $0.term == 5 && $0.body == .voteResponse(granted: true) }
            }
            #expect(transport.foundViolations.isEmpty, "\(transport.foundViolations)")
            #expect(transport.checkedCounts.votes == 1)
            try await cluster.shutdown()
            group.cancelAll()
        }
    }
}
