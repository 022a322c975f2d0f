import Testing

@testable import RaftCore

/// Messages come from the network: the core must neither crash nor corrupt its state on any of them.
@Suite("Untrusted input")
struct UntrustedInputTests {
    /// What a test compares before and after feeding bad input.
    struct Fingerprint: Equatable {
        var status: RawNode.Status
        var log: [Entry]
        var storage: NodeStorage

        init(_ network: TestNetwork, _ id: NodeID) {
            self.status = network.node(id).status
            self.log = network.log(id)
            self.storage = network.storage[id]!
        }
    }

    /// Nodes 1–3, node 1 leading term 2 after node 2 led term 1; every node holds four entries.
    static func cluster() throws -> TestNetwork {
        var network = try TestNetwork(voters: [1, 2, 3])
        network.elect(2)
        try network.propose(2, [1])
        network.stabilize()
        network.elect(1)
        try network.propose(1, [2])
        network.stabilize()
        #expect(network.node(1).term == 2)
        #expect(network.node(2).lastIndex == 4)
        #expect(network.node(2).commitIndex == 4)
        return network
    }

    static func append(from: NodeID = 1, to: NodeID = 2, term: UInt64 = 2, prev: UInt64, prevTerm: UInt64, entries: [Entry], commit: UInt64)
        -> Message
    {
        Message(from: from, to: to, term: term, body: .append(AppendRequest(prevLogIndex: prev, prevLogTerm: prevTerm, entries: entries, commit: commit)))
    }

    @Test("A message with a stale term changes nothing; the sender is told the current term")
    func staleTerm() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 3)
        network.inject(Self.append(from: 2, to: 3, term: 1, prev: 4, prevTerm: 2, entries: [commandEntry(index: 5, term: 1)], commit: 5))
        #expect(Fingerprint(network, 3) == before)
        #expect(network.queue.last == Message(from: 3, to: 2, term: 2, body: .appendResponse(AppendResponse(index: 0, rejected: true))))
        network.queue.removeAll()
        for body: Message.Body in [
            .vote(VoteRequest(lastLogIndex: 99, lastLogTerm: 9)), .heartbeatResponse(HeartbeatResponse(round: 1, sentTick: 1)),
            .installSnapshot(SnapshotMetadata(index: 9, term: 1, configuration: ClusterConfiguration(voters: [2]))), .timeoutNow,
            .readIndexResponse(context: 1, index: 1), .appendResponse(AppendResponse(index: 4)),
        ] {
            network.inject(Message(from: 2, to: 3, term: 1, body: body))
        }
        #expect(Fingerprint(network, 3) == before)
        #expect(network.queue.isEmpty)
        #expect(network.readStates[3, default: []].isEmpty)
    }

    @Test("Misaddressed, self-addressed, sender-0 and term-0 messages are ignored")
    func misaddressed() throws {
        var network = try Self.cluster()
        let before = (Fingerprint(network, 1), Fingerprint(network, 2))
        let entries = [commandEntry(index: 5, term: 2)]
        // Addressed to node 3 but handed to node 2.
        network.nodes[2]!.step(Self.append(from: 1, to: 3, term: 9, prev: 4, prevTerm: 2, entries: entries, commit: 5))
        network.processReady(2)
        network.inject(Self.append(from: 2, to: 2, term: 9, prev: 4, prevTerm: 2, entries: entries, commit: 5))
        network.inject(Self.append(from: 0, to: 2, term: 9, prev: 4, prevTerm: 2, entries: entries, commit: 5))
        network.inject(Self.append(from: 1, to: 2, term: 0, prev: 4, prevTerm: 2, entries: entries, commit: 5))
        network.inject(Message(from: 2, to: 1, term: 0, body: .appendResponse(AppendResponse(index: 4, rejected: true, hintIndex: 0))))
        #expect(Fingerprint(network, 1) == before.0)
        #expect(Fingerprint(network, 2) == before.1)
        #expect(network.queue.isEmpty)
    }

    @Test("Messages from unknown senders cannot vote, acknowledge or read through the leader")
    func unknownSender() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 1)
        network.inject(Message(from: 9, to: 1, term: 2, body: .appendResponse(AppendResponse(index: 5))))
        network.inject(Message(from: 9, to: 1, term: 2, body: .heartbeatResponse(HeartbeatResponse(round: 9, sentTick: 9))))
        network.inject(Message(from: 9, to: 1, term: 2, body: .readIndex(context: 1)))
        network.inject(Message(from: 9, to: 1, term: 2, body: .voteResponse(granted: true)))
        #expect(Fingerprint(network, 1) == before)
        #expect(network.queue.isEmpty)
        // A stranger's vote request is ignored while the leader's lease holds, and refused if its log is behind.
        network.inject(Message(from: 9, to: 3, term: 3, body: .vote(VoteRequest(lastLogIndex: 99, lastLogTerm: 9))))
        #expect(network.queue.isEmpty)
        #expect(network.node(3).term == 2)
        network.expireLeaderLeases([3])
        network.inject(Message(from: 9, to: 3, term: 3, body: .vote(VoteRequest(lastLogIndex: 99, lastLogTerm: 1))))
        #expect(network.queue.last?.body == .voteResponse(granted: false))
        #expect(network.node(3).vote == nil)
        // A stranger's votes do not count for a candidate.
        network.campaign(3)
        #expect(network.node(3).role == .preCandidate)
        network.inject(Message(from: 9, to: 3, term: 4, body: .preVoteResponse(granted: true)))
        #expect(network.node(3).role == .preCandidate)
    }

    @Test("Appends with non-contiguous indices or bad terms are dropped whole")
    func malformedAppends() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 2)
        let bad: [Message] = [
            // a gap
            Self.append(prev: 4, prevTerm: 2, entries: [commandEntry(index: 5, term: 2), commandEntry(index: 7, term: 2)], commit: 7),
            // not starting right after prevLogIndex
            Self.append(prev: 4, prevTerm: 2, entries: [commandEntry(index: 6, term: 2)], commit: 6),
            // going backwards, overlapping a committed entry
            Self.append(prev: 4, prevTerm: 2, entries: [commandEntry(index: 5, term: 2), commandEntry(index: 3, term: 2)], commit: 5),
            // a term above the message's term
            Self.append(prev: 4, prevTerm: 2, entries: [commandEntry(index: 5, term: 3)], commit: 5),
            // decreasing terms
            Self.append(prev: 4, prevTerm: 2, entries: [commandEntry(index: 5, term: 1)], commit: 5),
            // an index that would overflow
            Self.append(prev: .max, prevTerm: 2, entries: [commandEntry(index: 0, term: 2)], commit: .max),
            Self.append(prev: .max - 1, prevTerm: 2, entries: [commandEntry(index: .max, term: 2), commandEntry(index: 0, term: 2)], commit: .max),
        ]
        for message in bad { network.inject(message) }
        #expect(Fingerprint(network, 2) == before)
        #expect(network.queue.isEmpty, "malformed appends get no answer")
    }

    @Test("An append whose entries would replace committed ones is refused")
    func appendOverwritingCommitted() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 2)
        // Same term, but entry 3 differs in term from the committed one.
        network.inject(Self.append(prev: 2, prevTerm: 1, entries: [commandEntry(index: 3, term: 2)], commit: 4))
        #expect(Fingerprint(network, 2) == before)
    }

    @Test("A commit index beyond the log is capped: at the last new entry for appends, at the last index for heartbeats")
    func commitBeyondLog() throws {
        // Node 2 holds two uncommitted entries of term 1 that the leader of term 2 does not have.
        let states: [NodeID: RawNode.PersistentState] = [
            2: RawNode.PersistentState(hardState: HardState(term: 2, vote: 1, commit: 1), entries: commandLog(terms: [1, 1, 1]))
        ]
        var network = try TestNetwork(membership: ClusterConfiguration(voters: [1, 2, 3]), states: states)
        network.inject(Self.append(prev: 1, prevTerm: 1, entries: [], commit: 1_000))
        #expect(network.node(2).commitIndex == 1, "only what this append proved to match")
        #expect(network.queue.last?.appendResponse == AppendResponse(index: 1))
        #expect(network.applied[2]?.map(\.index) == [1])
        network.inject(Self.append(prev: 1, prevTerm: 1, entries: [commandEntry(index: 2, term: 2)], commit: .max))
        #expect(network.node(2).commitIndex == 2)
        #expect(network.node(2).lastIndex == 2, "the conflicting tail was replaced")
        network.inject(Message(from: 1, to: 2, term: 2, body: .heartbeat(Heartbeat(commit: .max, round: .max, sentTick: .max))))
        #expect(network.node(2).commitIndex == 2)
        #expect(network.queue.last?.body == .heartbeatResponse(HeartbeatResponse(round: .max, sentTick: .max)))
    }

    @Test("Rejection hints out of range neither crash the leader nor stop replication")
    func rejectionHintsOutOfRange() throws {
        var network = try Self.cluster()
        let lastIndex = network.node(1).lastIndex
        // Make node 1 probe node 3 again at its last index.
        network.isolate(3)
        try network.propose(1, [3])
        network.tickAndStabilize([1, 2], times: 2)
        network.nodes[1]!.reportUnreachable(3)
        let probe = try #require(network.node(1).progress[3])
        let rejected = probe.next - 1
        #expect(rejected <= lastIndex + 1)
        let hints: [(UInt64, UInt64)] = [(.max, 0), (.max, .max), (.max, 1), (0, .max), (rejected + 1, 0)]
        for (hintIndex, hintTerm) in hints {
            let current = network.node(1).progress[3]!.next - 1
            network.inject(
                Message(
                    from: 3, to: 1, term: 2,
                    body: .appendResponse(
                        AppendResponse(index: current, rejected: true, hintIndex: hintIndex, hintTerm: hintTerm))))
            network.queue.removeAll()
            let progress = network.node(1).progress[3]!
            #expect(progress.next >= 1 && progress.next <= network.node(1).lastIndex + 1)
            #expect(progress.match <= network.node(1).lastIndex)
            #expect(network.node(1).role == .leader)
        }
        // Rejections of indices never sent, in any state, are ignored.
        network.inject(Message(from: 3, to: 1, term: 2, body: .appendResponse(AppendResponse(index: .max, rejected: true, hintIndex: .max, hintTerm: .max))))
        network.recover()
        network.tickAndStabilize(times: 3)
        #expect(network.log(3) == network.log(1))
        #expect(network.node(3).commitIndex == network.node(1).lastIndex)
    }

    @Test("Append responses acknowledging entries beyond the leader's log are ignored")
    func ackBeyondLog() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 1)
        for index: UInt64 in [network.node(1).lastIndex + 1, 1_000, .max] {
            network.inject(Message(from: 2, to: 1, term: 2, body: .appendResponse(AppendResponse(index: index))))
        }
        #expect(Fingerprint(network, 1) == before)
        #expect(network.queue.isEmpty)
        // And a proposal still needs a real acknowledgement.
        network.isolate(2)
        network.isolate(3)
        try network.propose(1, [9])
        network.inject(Message(from: 2, to: 1, term: 2, body: .appendResponse(AppendResponse(index: .max))))
        #expect(network.node(1).commitIndex == 4)
    }

    @Test("Heartbeat responses with huge round or send tick neither crash nor extend the lease")
    func hugeHeartbeatResponse() throws {
        var network = try Self.cluster()
        network.readIndex(1, context: 1)
        network.queue.removeAll()  // the real round is lost
        for (round, sentTick) in [(UInt64.max, UInt64.max), (0, UInt64.max), (UInt64.max, 0)] {
            network.inject(Message(from: 3, to: 1, term: 2, body: .heartbeatResponse(HeartbeatResponse(round: round, sentTick: sentTick))))
        }
        let progress = network.node(1).progress[3]!
        #expect(progress.ackedRound <= network.node(1).readRound)
        #expect(progress.ackedSentTick.map { $0 <= network.node(1).tickCount } ?? true)
        #expect(network.node(1).role == .leader)
    }

    @Test("Malformed snapshots are ignored")
    func malformedSnapshots() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 2)
        let voters = ClusterConfiguration(voters: [1, 2, 3])
        for metadata in [
            SnapshotMetadata(index: 0, term: 1, configuration: voters),
            SnapshotMetadata(index: 10, term: 0, configuration: voters),
            SnapshotMetadata(index: 10, term: 3, configuration: voters),
            SnapshotMetadata(index: 10, term: 2, configuration: ClusterConfiguration(learners: [2])),
        ] {
            network.inject(Message(from: 1, to: 2, term: 2, body: .installSnapshot(metadata)))
        }
        #expect(Fingerprint(network, 2) == before)
        #expect(network.queue.isEmpty)
    }

    @Test("Read answers from anyone but the leader are ignored")
    func foreignReadAnswers() throws {
        var network = try Self.cluster()
        network.inject(Message(from: 3, to: 2, term: 2, body: .readIndexResponse(context: 1, index: 1)))
        network.inject(Message(from: 9, to: 2, term: 2, body: .readIndexResponse(context: 1, index: 1)))
        #expect(network.readStates[2, default: []].isEmpty)
    }

    @Test("Messages carrying absurdly large terms are ignored, so the node never overflows its term later")
    func largestTerm() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 3)
        network.expireLeaderLeases([3])
        for term: UInt64 in [.max, .max - 1, UInt64(Int64.max) + 1] {
            network.inject(Message(from: 1, to: 3, term: term, body: .heartbeat(Heartbeat(commit: 0, round: 0, sentTick: 0))))
            network.inject(Message(from: 2, to: 3, term: term, body: .timeoutNow))
            network.inject(Message(from: 2, to: 3, term: term, body: .vote(VoteRequest(lastLogIndex: 99, lastLogTerm: 2))))
            network.inject(Message(from: 2, to: 3, term: term, body: .appendResponse(AppendResponse(index: 0, rejected: true))))
        }
        #expect(Fingerprint(network, 3) == before)
        #expect(network.queue.isEmpty)
        // Elections still work afterwards.
        network.isolate(3)
        network.tickAndStabilize([3], times: 50)
        #expect(network.node(3).term == 2)
        network.recover()
        network.elect(3)
        #expect(network.leaders == [3])
        #expect(network.node(3).term == 3)
    }

    @Test("A message at the largest accepted term, or far above the current one, is ignored: the cluster can still elect")
    func termCeiling() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 3)
        network.expireLeaderLeases([3])
        // Before: a heartbeat at Int64.max was adopted; the next campaign's term + 1 was then
        // refused by every node, forever.
        for term: UInt64 in [UInt64(Int64.max), UInt64(Int64.max) - 1, 2 + RawNode.maxTermJump + 1] {
            network.inject(Message(from: 1, to: 3, term: term, body: .heartbeat(Heartbeat(commit: 0, round: 0, sentTick: 0))))
            network.inject(Message(from: 2, to: 3, term: term, body: .appendResponse(AppendResponse(index: 0, rejected: true))))
        }
        #expect(Fingerprint(network, 3) == before)
        network.elect(3)
        #expect(network.leaders == [3])
        #expect(network.node(3).term == 3)
        // A step up within the window is an ordinary newer term.
        network.inject(Message(from: 3, to: 2, term: 3 + RawNode.maxTermJump, body: .heartbeat(Heartbeat(commit: 0, round: 0, sentTick: 0))))
        #expect(network.node(2).term == 3 + RawNode.maxTermJump)
    }

    @Test("A snapshot at an absurdly large index is ignored, so the log never overflows later")
    func largestSnapshotIndex() throws {
        var network = try Self.cluster()
        let before = Fingerprint(network, 3)
        for index: UInt64 in [.max, .max - 1, UInt64(Int64.max) + 1] {
            network.inject(
                Message(
                    from: 1, to: 3, term: 2,
                    body: .installSnapshot(
                        SnapshotMetadata(index: index, term: 2, configuration: ClusterConfiguration(voters: [3])))))
        }
        #expect(Fingerprint(network, 3) == before)
        #expect(network.queue.isEmpty)
        network.tickAndStabilize(times: 5)
        #expect(network.leaders == [1])
        try network.propose(1, [5])
        network.stabilize()
        #expect(network.log(3) == network.log(1))
    }
}
