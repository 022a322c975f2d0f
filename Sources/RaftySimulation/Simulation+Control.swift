public import RaftCore

/// Step-by-step control for scenario tests: who leads, what is applied where, raw proposals,
/// message counts. (The lab-style harness of the classic scenario tests builds on these.)
extension Simulation {
    /// Running nodes that currently consider themselves leader, with their terms.
    public var leaders: [(id: NodeID, term: UInt64)] {
        self.nodeIDs.compactMap { id in
            guard let core = self.core(id), core.role == .leader else { return nil }
            return (id, core.term)
        }
    }

    /// How many running nodes have applied `index`, and the committed entry there.
    public func committedCount(at index: UInt64) -> (count: Int, entry: Entry?) {
        let count = self.nodeIDs.filter { self.core($0) != nil && self.appliedIndex($0) >= index }.count
        return (count, self.committedLog[index])
    }

    /// Proposes a raw command on `node`; nil if it is down or not the leader.
    public mutating func propose(_ command: [UInt8], at node: NodeID) -> (index: UInt64, term: UInt64)? {
        let index = Int(node - 1)
        guard self.nodes[index].isUp, let result = try? self.nodes[index].core!.propose(command) else { return nil }
        self.processReady(node)
        return result
    }

    /// Messages sent so far (delivered or not).
    public var messagesSent: Int { self.sentMessageCount }
}
