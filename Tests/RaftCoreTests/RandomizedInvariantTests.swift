import Testing

@testable import RaftCore

/// Seeded chaos runs: random delivery order, delays, drops, partitions, crashes and restarts,
/// compaction, leadership transfers and membership changes, with Raft's safety properties checked
/// after every round. Every run is deterministic for its seed.
@Suite("Randomized invariants")
struct RandomizedInvariantTests {
    struct Checker {
        /// The leader of each term, once seen.
        var leaderOfTerm: [UInt64: NodeID] = [:]
        /// Every applied entry by index, across all nodes.
        var appliedEntries: [UInt64: Entry] = [:]
        /// For each committed index: an upper bound of the term in which it was committed.
        var commitTerm: [UInt64: UInt64] = [:]
        /// How much of each node's applied list was already checked.
        var checkedApplied: [NodeID: Int] = [:]
        /// For each read context: the highest commit index anywhere when the read was issued.
        var commitAtIssue: [UInt64: UInt64] = [:]
        var checkedReads: [NodeID: Int] = [:]
        var answeredReads = 0
        var problems: [String] = []

        mutating func fail(_ message: String) {
            if self.problems.count < 20 { self.problems.append(message) }
        }

        mutating func check(_ network: TestNetwork, round: Int) {
            let running = network.ids.filter { network.nodes[$0] != nil }
            // Election safety: at most one leader per term.
            for id in running where network.node(id).role == .leader {
                let term = network.node(id).term
                if let other = self.leaderOfTerm[term], other != id {
                    self.fail("round \(round): nodes \(other) and \(id) both led term \(term)")
                }
                self.leaderOfTerm[term] = id
            }
            // State machine safety: no two nodes apply different entries at an index.
            for id in network.ids {
                let applied = network.applied[id, default: []]
                let start = min(self.checkedApplied[id, default: 0], applied.count)
                for entry in applied[start...] {
                    if let known = self.appliedEntries[entry.index] {
                        if known != entry { self.fail("round \(round): node \(id) applied \(entry) but \(known) was applied at that index") }
                    } else {
                        self.appliedEntries[entry.index] = entry
                    }
                }
                // Applied entries are consecutive.
                for (a, b) in zip(applied, applied.dropFirst()) where b.index != a.index + 1 {
                    self.fail("round \(round): node \(id) applied \(a.index) then \(b.index)")
                }
                self.checkedApplied[id] = applied.count
            }
            // Leader completeness: a leader holds every entry committed in an earlier term. A node's
            // term when it is first seen to have an index committed bounds the term of that commit.
            for id in running {
                let node = network.node(id)
                var index = node.commitIndex
                while index > 0 && self.commitTerm[index] == nil {
                    self.commitTerm[index] = node.term
                    index -= 1
                }
            }
            for id in running where network.node(id).role == .leader {
                let node = network.node(id)
                for (index, entry) in self.appliedEntries where index >= node.firstIndex {
                    guard let committedIn = self.commitTerm[index], committedIn < node.term else { continue }
                    if node.entry(at: index) != entry {
                        self.fail("round \(round): leader \(id) of term \(node.term) lacks \(entry), committed by term \(committedIn)")
                    }
                }
            }
            // Durability: what a node holds in memory is what its host stored.
            for id in running {
                let node = network.node(id)
                let stored = network.storage[id]!
                if stored.hardState != HardState(term: node.term, vote: node.vote, commit: node.commitIndex) {
                    self.fail(
                        "round \(round): node \(id) stored \(stored.hardState), holds term \(node.term) vote \(String(describing: node.vote)) commit \(node.commitIndex)"
                    )
                }
                let storedByIndex = Dictionary(stored.entries.map { ($0.index, $0) }, uniquingKeysWith: { $1 })
                for entry in network.log(id) where storedByIndex[entry.index] != entry {
                    self.fail("round \(round): node \(id) holds \(entry) that is not stored")
                }
            }
            // Linearizable reads: a confirmed read index covers everything committed before the read began.
            for id in network.ids {
                let states = network.readStates[id, default: []]
                for state in states[min(self.checkedReads[id, default: 0], states.count)...] {
                    self.answeredReads += 1
                    if let floor = self.commitAtIssue[state.context], state.index < floor {
                        self.fail("round \(round): read \(state.context) on node \(id) got index \(state.index) but \(floor) was committed before it began")
                    }
                }
                self.checkedReads[id] = states.count
            }
        }
    }

    struct Outcome {
        var committed: Int
        var answeredReads: Int
        var leaders: Int
        var problems: [String]
    }

    /// - Parameter harsh: more loss (15%), duplicated messages, two nodes down at once, more partitions.
    static func run(seed: UInt64, rounds: Int = 400, preVote: Bool = true, harsh: Bool = false) throws -> Outcome {
        var rng = SplitMix64(seed: seed)
        func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

        var network = try TestNetwork(voters: [1, 2, 3, 4, 5], seed: seed) { $0.preVote = preVote }
        var checker = Checker()
        var downUntil: [NodeID: Int] = [:]
        var partitionUntil = -1
        var command: UInt8 = 0
        var context: UInt64 = 0

        for round in 0..<rounds {
            // Time passes at the same rate everywhere (leases assume bounded drift).
            for id in network.ids where network.nodes[id] != nil {
                network.nodes[id]!.tick()
            }
            network.processAllReadies()

            // Faults.
            if round == partitionUntil { network.recover() }
            if partitionUntil < round && chance(harsh ? 6 : 3) {
                let a = pick(network.ids)
                if chance(50) { network.isolate(a) } else { network.cut(a, pick(network.ids.filter { $0 != a })) }
                partitionUntil = round + 5 + Int(rng.next() % 40)
            }
            for (id, until) in downUntil.sorted(by: { $0.key < $1.key }) where until == round {
                try network.start(id)
                downUntil[id] = nil
                network.processReady(id)
            }
            if downUntil.count < (harsh ? 2 : 1) && chance(harsh ? 4 : 2) {
                let id = pick(network.ids)
                if network.nodes[id] != nil {
                    network.stop(id)
                    downUntil[id] = round + 1 + Int(rng.next() % 30)
                }
            }

            // Client and operator input.
            for leader in network.leaders {
                if chance(30) {
                    command &+= 1
                    _ = try? network.propose(leader, [command])
                }
                if chance(2) {
                    let voters = network.node(leader).configuration.sortedVoters.filter { $0 != leader }
                    if !voters.isEmpty { try? network.transferLeadership(leader, to: pick(voters)) }
                }
                if chance(3) {
                    let configuration = network.node(leader).configuration
                    let target = pick(network.ids.filter { $0 != leader })
                    let change: ConfigurationChange =
                        configuration.learners.contains(target)
                        ? ConfigurationChange(.promote, node: target)
                        : ConfigurationChange(.demote, node: target)
                    if change.kind == .promote || configuration.voters.count > 3 {
                        _ = try? network.proposeConfigurationChange(leader, change)
                    }
                }
            }
            if chance(15) {
                let id = pick(network.ids)
                if network.nodes[id] != nil {
                    context += 1
                    checker.commitAtIssue[context] = network.ids.compactMap { network.nodes[$0]?.commitIndex }.max() ?? 0
                    network.readIndex(id, context: context, lease: chance(50))
                }
            }
            if chance(4) {
                let id = pick(network.ids)
                if let node = network.nodes[id], node.status.appliedIndex > (node.snapshot?.index ?? 0) {
                    try network.compact(id, at: node.status.appliedIndex, trailingEntries: rng.next() % 4)
                }
            }

            // The network: each queued message is delivered now (in random order), delayed, or lost.
            let pending = network.queue
            network.queue = []
            var delayed: [Message] = []
            for message in pending.shuffled(using: &rng) {
                let roll = rng.next() % 100
                if roll < (harsh ? 15 : 5) {
                    network.dropped.append(message)
                } else if harsh && roll < 20 {
                    network.deliver(message)  // duplicated: delivered now and again later
                    delayed.append(message)
                } else if roll < (harsh ? 60 : 75) {
                    network.deliver(message)
                } else {
                    delayed.append(message)
                }
            }
            network.queue.insert(contentsOf: delayed, at: 0)

            checker.check(network, round: round)
        }
        // Heal everything and let the cluster settle: it must make progress again.
        network.recover()
        for id in downUntil.keys.sorted() { try network.start(id) }
        network.queue.removeAll()
        for _ in 0..<100 { network.tickAndStabilize() }
        let leader = network.leaders.last
        if let leader {
            command &+= 1
            _ = try? network.propose(leader, [command])
            network.tickAndStabilize(times: 5)
        } else {
            checker.fail("no leader after healing")
        }
        checker.check(network, round: rounds)
        let committed = leader.map { network.appliedCommands($0).count } ?? 0
        return Outcome(committed: committed, answeredReads: checker.answeredReads, leaders: checker.leaderOfTerm.count, problems: checker.problems)
    }

    @Test("Safety holds and the cluster recovers under random faults (pre-vote on)", arguments: 1...12)
    func randomFaults(seed: UInt64) throws {
        let outcome = try Self.run(seed: seed)
        #expect(outcome.problems.isEmpty, "\(outcome.problems.joined(separator: "\n"))")
        #expect(outcome.committed > 10)
        #expect(outcome.answeredReads > 5)
    }

    @Test("Safety holds and the cluster recovers under random faults (pre-vote off)", arguments: 101...106)
    func randomFaultsWithoutPreVote(seed: UInt64) throws {
        let outcome = try Self.run(seed: seed, preVote: false)
        #expect(outcome.problems.isEmpty, "\(outcome.problems.joined(separator: "\n"))")
        #expect(outcome.committed > 10)
    }

    @Test("Safety holds and the cluster recovers under harsh faults (loss, duplication, two nodes down)", arguments: 201...210)
    func harshFaults(seed: UInt64) throws {
        let outcome = try Self.run(seed: seed, harsh: true)
        #expect(outcome.problems.isEmpty, "\(outcome.problems.joined(separator: "\n"))")
        #expect(outcome.committed > 0, "the healed cluster commits again")
    }
}
