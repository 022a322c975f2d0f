public import RaftCore

/// Step-by-step control for scenario tests, in the spirit of the classic Raft lab harness:
/// find the leader, submit a command and wait until enough nodes applied it, count messages.
extension Simulation {
    /// Running nodes that are not cut off from every other node.
    public var connectedNodes: [NodeID] {
        self.nodeIDs.filter { id in
            self.core(id) != nil
                && !self.nodeIDs.allSatisfy { $0 == id || self.blockedLinks.contains(Link(from: id, to: $0)) }
        }
    }

    /// Running nodes that currently consider themselves leader, with their terms.
    public var leaders: [(id: NodeID, term: UInt64)] {
        self.nodeIDs.compactMap { id in
            guard let core = self.core(id), core.role == .leader else { return nil }
            return (id, core.term)
        }
    }

    /// Waits (up to 10 election timeouts) until exactly one connected node leads the newest term
    /// and returns it; nil if none does. Two leaders in one term are reported as a failure.
    public mutating func checkOneLeader() -> NodeID? {
        for _ in 0..<10 {
            self.run(ticks: self.options.electionTimeout / 2 + 1)
            var byTerm: [UInt64: [NodeID]] = [:]
            for id in self.connectedNodes {
                if let core = self.core(id), core.role == .leader { byTerm[core.term, default: []].append(id) }
            }
            for (term, ids) in byTerm where ids.count > 1 {
                self.fail("term \(term) has \(ids.count) leaders: \(ids.sorted())")
                return nil
            }
            if let newest = byTerm.keys.max() { return byTerm[newest]!.first }
        }
        return nil
    }

    /// Whether no connected node thinks it is the leader.
    public var hasNoConnectedLeader: Bool {
        self.connectedNodes.allSatisfy { self.core($0)?.role != .leader }
    }

    /// The term all connected nodes agree on, or nil if they disagree.
    public var agreedTerm: UInt64? {
        let terms = Set(self.connectedNodes.compactMap { self.core($0)?.term })
        return terms.count == 1 ? terms.first : nil
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

    /// Submits `command` to whichever node leads, retrying for up to 100 ticks, and waits until at
    /// least `expectedNodes` nodes applied it. Returns its index, or nil on timeout.
    public mutating func one(_ command: [UInt8], expectedNodes: Int, retry: Bool = true) -> UInt64? {
        let deadline = self.now + 100 * self.options.tickInterval
        var start = 0
        while self.now < deadline && self.failure == nil {
            var proposed: UInt64?
            for offset in 0..<self.nodes.count {
                let id = NodeID((start + offset) % self.nodes.count + 1)
                if self.connectedNodes.contains(id), let result = self.propose(command, at: id) {
                    proposed = result.index
                    break
                }
            }
            start += 1
            if let index = proposed {
                let waitUntil = self.now + 20 * self.options.tickInterval
                while self.now < waitUntil && self.failure == nil {
                    self.run(ticks: 1)
                    let (count, entry) = self.committedCount(at: index)
                    if count >= expectedNodes, entry?.payload == .command(command) { return index }
                }
                if !retry { return nil }
            } else {
                self.run(ticks: 1)
            }
        }
        return nil
    }

    /// Waits until `expectedNodes` nodes applied `index` (up to `ticks`); returns the entry, or nil.
    /// Gives up early (nil) if some node moved past `startTerm`, as the lab harness does.
    public mutating func wait(for index: UInt64, expectedNodes: Int, startTerm: UInt64? = nil, ticks: Int = 30) -> Entry? {
        for _ in 0..<ticks {
            let (count, entry) = self.committedCount(at: index)
            if count >= expectedNodes { return entry }
            if let startTerm, self.nodeIDs.contains(where: { (self.core($0)?.term ?? 0) > startTerm }) { return nil }
            self.run(ticks: 1)
        }
        let (count, entry) = self.committedCount(at: index)
        return count >= expectedNodes ? entry : nil
    }

    /// Messages sent so far (delivered or not).
    public var messagesSent: Int { self.sentMessageCount }
}
