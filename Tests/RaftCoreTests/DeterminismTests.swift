import Testing

@testable import RaftCore

@Suite("Determinism")
struct DeterminismTests {
    /// A run with elections by timeout, proposals, partitions, a crash, a restart and compaction.
    /// Returns every node's Ready sequence and every message sent.
    static func run(seed: UInt64) throws -> (readies: [NodeID: [Ready]], sent: [Message], network: TestNetwork) {
        var network = try TestNetwork(voters: [1, 2, 3, 4, 5], seed: seed)
        var command: UInt8 = 0
        func proposeOnLeader(_ network: inout TestNetwork) {
            for leader in network.leaders {
                command &+= 1
                _ = try? network.propose(leader, [command])
            }
        }
        for round in 0..<300 {
            network.tickAndStabilize()
            if round % 7 == 0 { proposeOnLeader(&network) }
            if round % 11 == 0, let leader = network.leaders.first { network.readIndex(leader, context: UInt64(round)) }
            switch round {
            case 60: network.isolate(network.leaders.first ?? 1)
            case 120: network.recover()
            case 150:
                network.cut(1, 2)
                network.cut(3, 4)
            case 190: network.recover()
            case 200: network.stop(2)
            case 230: try network.start(2)
            case 250:
                for id in network.ids where network.nodes[id] != nil {
                    let applied = network.node(id).status.appliedIndex
                    if applied > (network.node(id).snapshot?.index ?? 0) { try network.compact(id, at: applied, trailingEntries: 2) }
                }
            default: break
            }
        }
        return (network.readyLog, network.sent, network)
    }

    @Test("Two runs with the same seeds and inputs produce identical Ready sequences")
    func identicalRuns() throws {
        let first = try Self.run(seed: 7)
        let second = try Self.run(seed: 7)
        #expect(first.readies == second.readies)
        #expect(first.sent == second.sent)
        // The run did real work: leaders were elected, commands committed.
        let network = first.network
        #expect(first.readies.values.reduce(0) { $0 + $1.count } > 1_000)
        #expect(network.leaders.count == 1)
        #expect(network.appliedCommands(network.leaders[0]).count > 20)
        // Safety along the way: every pair of state machines agrees on their common prefix.
        for a in network.ids {
            for b in network.ids where a < b {
                let left = network.applied[a]!
                let right = network.applied[b]!
                let common = min(left.count, right.count)
                #expect(Array(left.prefix(common)) == Array(right.prefix(common)), "nodes \(a) and \(b)")
            }
        }
    }

    @Test("A different seed changes the election timing (the comparison above is not vacuous)")
    func seedMatters() throws {
        let first = try Self.run(seed: 7)
        let other = try Self.run(seed: 8)
        #expect(first.readies != other.readies)
    }

    @Test("The randomized election timeout lies in [electionTimeout, 2 * electionTimeout) and follows the seed")
    func randomizedTimeoutRange() throws {
        var timeouts: [Int] = []
        for seed: UInt64 in 0..<50 {
            var configuration = RawNode.Configuration(id: 1)
            configuration.randomSeed = seed
            let node = try RawNode(configuration: configuration, membership: ClusterConfiguration(voters: [1, 2, 3]))
            let again = try RawNode(configuration: configuration, membership: ClusterConfiguration(voters: [1, 2, 3]))
            #expect(node.randomizedElectionTimeout == again.randomizedElectionTimeout)
            timeouts.append(node.randomizedElectionTimeout)
        }
        #expect(timeouts.allSatisfy { (10..<20).contains($0) })
        #expect(Set(timeouts).count > 3)
    }
}
