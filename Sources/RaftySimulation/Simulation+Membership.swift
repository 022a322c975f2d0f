public import RaftCore

/// Membership: the committed configuration as the cluster as a whole knows it, membership changes
/// proposed through a node, and the membership invariants checked after every step.
///
/// Each node's own view of the configuration comes from its log and snapshot (the core tracks it);
/// where the simulator needs a global view it uses the committed configuration, never a fixed set.
extension Simulation {
    /// The newest committed configuration (the initial one until a change commits).
    public var committedConfiguration: ClusterConfiguration {
        self.committedConfigurations.last?.configuration ?? self.initialConfiguration
    }

    /// The index of the entry that holds ``committedConfiguration`` (0 for the initial one).
    public var committedConfigurationIndex: UInt64 { self.committedConfigurations.last?.index ?? 0 }

    /// Every committed configuration change so far, in log order.
    public var configurationHistory: [(index: UInt64, configuration: ClusterConfiguration)] {
        self.committedConfigurations
    }

    /// The configuration in effect at a committed `index`.
    public func configuration(committedAt index: UInt64) -> ClusterConfiguration {
        for change in self.committedConfigurations.reversed() where change.index <= index {
            return change.configuration
        }
        return self.initialConfiguration
    }

    /// How many snapshots `id` installed from a leader.
    public func snapshotsInstalled(on id: NodeID) -> Int { self.installedSnapshots[id] ?? 0 }

    /// Proposes a membership change on `node` and processes the resulting Ready.
    ///
    /// - Throws: the core's refusal (not the leader, a change in progress, an invalid change), or
    ///   `RaftCoreError/Code/notLeader` if the node is down.
    @discardableResult
    public mutating func proposeConfigurationChange(
        _ change: ConfigurationChange, at node: NodeID
    ) throws(RaftCoreError) -> (index: UInt64, term: UInt64) {
        let slot = Int(node - 1)
        guard self.nodes[slot].isUp else { throw RaftCoreError(.notLeader, "node \(node) is down") }
        let result = try self.nodes[slot].core!.proposeConfigurationChange(change)
        self.processReady(node)
        return result
    }

    /// Asks `node` (a leader) to hand leadership to `target`.
    public mutating func transferLeadership(from node: NodeID, to target: NodeID) throws(RaftCoreError) {
        let slot = Int(node - 1)
        guard self.nodes[slot].isUp, !self.nodes[slot].frozen else { throw RaftCoreError(.notLeader, "node \(node) is down") }
        try self.nodes[slot].core!.transferLeadership(to: target)
        self.processReady(node)
    }

    // MARK: - Bookkeeping

    /// Records a configuration entry the first time its index is known committed.
    mutating func recordCommittedConfiguration(_ entry: Entry) {
        guard case .configuration(let configuration) = entry.payload else { return }
        var position = self.committedConfigurations.endIndex
        while position > 0 && self.committedConfigurations[position - 1].index > entry.index { position -= 1 }
        self.committedConfigurations.insert((entry.index, configuration), at: position)
    }

    // MARK: - Invariants

    /// Whether `id` may campaign, judged from its log: a voter of its latest configuration, or of the
    /// configuration before it while the latest is not committed in its log (a leader that removed
    /// or demoted itself may have to win again to finish the change, Raft thesis §4.2.2).
    func mayCampaign(_ id: NodeID, _ core: RawNode) -> Bool {
        if core.isVoter { return true }
        guard core.configurationIndex > core.commitIndex else { return false }
        var index = core.configurationIndex - 1
        while index >= core.firstIndex {
            if case .configuration(let previous) = core.entry(at: index)?.payload { return previous.voters.contains(id) }
            index -= 1
        }
        // Before the first entry held: committed, so the cluster-wide view applies.
        return self.configuration(committedAt: index).voters.contains(id)
    }

    /// Membership invariants for one node, after it carried out a Ready:
    /// - only a node that may campaign (see ``mayCampaign(_:_:)``) is a (pre-)candidate: a learner
    ///   or non-member whose latest configuration is committed in its log never is;
    /// - a leader that is no longer a voter is one whose demotion or removal has not committed yet
    ///   (it steps down once it commits);
    /// - a leader's log holds at most one configuration change beyond its commit index;
    /// - a node whose latest configuration is committed in its log holds the configuration the
    ///   cluster committed at that point (the committed configuration sequence is the same
    ///   everywhere). A slot outside the initial configuration that has seen no configuration entry
    ///   yet has an empty one and is exempt.
    mutating func checkMembership(_ id: NodeID) {
        guard let core = self.nodes[Int(id - 1)].core else { return }
        if core.configurationIndex <= core.commitIndex && (core.configurationIndex > 0 || self.initialConfiguration.contains(id)) {
            let expected = self.configuration(committedAt: core.commitIndex)
            if core.configuration != expected {
                self.fail(
                    "node \(id) holds configuration \(describe(core.configuration)) (at \(core.configurationIndex), commit \(core.commitIndex)), "
                        + "but \(describe(expected)) was committed there")
                return
            }
        }
        switch core.role {
        case .candidate, .preCandidate:
            if !self.mayCampaign(id, core) {
                self.fail(
                    "node \(id) is \(core.role) in term \(core.term) but is not a voter of its configuration \(describe(core.configuration)) "
                        + "(at \(core.configurationIndex), commit \(core.commitIndex)) nor of the one before")
            }
        case .leader:
            if !core.isVoter && core.configurationIndex <= core.commitIndex {
                self.fail(
                    "node \(id) still leads term \(core.term) after its removal or demotion at \(core.configurationIndex) committed (commit \(core.commitIndex))"
                )
                return
            }
            // configurationIndex is the last configuration entry; look for another one before it.
            if core.configurationIndex > core.commitIndex + 1 {
                var index = core.commitIndex + 1
                while index < core.configurationIndex {
                    if case .configuration = core.entry(at: index)?.payload {
                        self.fail(
                            "leader \(id) of term \(core.term) has two uncommitted configuration changes, at \(index) and \(core.configurationIndex) (commit \(core.commitIndex))"
                        )
                        return
                    }
                    index += 1
                }
            }
        case .follower:
            break
        }
    }

    /// A node that just became leader may campaign (see ``mayCampaign(_:_:)``).
    mutating func checkNewLeaderIsVoter(_ id: NodeID) {
        guard let core = self.nodes[Int(id - 1)].core, core.role == .leader else { return }
        if !self.mayCampaign(id, core) {
            self.fail("node \(id) became leader of term \(core.term) but may not campaign with \(describe(core.configuration))")
        }
    }

    /// A snapshot records the configuration committed at its index.
    mutating func checkSnapshotConfiguration(_ id: NodeID, _ snapshot: SnapshotMetadata, origin: String) {
        let expected = self.configuration(committedAt: snapshot.index)
        if snapshot.configuration != expected {
            self.fail(
                "node \(id) \(origin) a snapshot at \(snapshot.index) with configuration \(describe(snapshot.configuration)), "
                    + "but \(describe(expected)) was committed there")
        }
    }
}

/// A compact rendering of a configuration: `voters [1, 2] learners [4]`.
func describe(_ configuration: ClusterConfiguration) -> String {
    "voters \(configuration.sortedVoters) learners \(configuration.learners.sorted())"
}
