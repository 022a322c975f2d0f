/// The membership of a cluster: voters decide elections and commits; learners only replicate.
public struct ClusterConfiguration: Sendable, Hashable {
    /// Members that vote and count towards quorums.
    public var voters: Set<NodeID>
    /// Non-voting (read-only) members: they receive the log but never vote, campaign or count in a quorum.
    /// (A voter demoted by a change not yet committed in its own log may still campaign, to finish
    /// that change; it never counts its own vote. See `RawNode.mayCampaign`.)
    public var learners: Set<NodeID>
    /// Where members can be reached, as the host spells addresses. The core only carries them
    /// (a configuration entry replicates them to every node, so a node that joins later learns
    /// every member's address from the log); it never interprets them.
    public var addresses: [NodeID: String]
    /// The incarnation of each member's data directory, as the host recorded it when the member
    /// formed the cluster or was promoted to voter. The core only carries them; the host refuses a
    /// member that presents another (its data was lost, so its vote and acknowledgements are void).
    /// Members recorded by a version without incarnations have none.
    public var incarnations: [NodeID: UInt64]

    /// Creates a configuration. A node listed as both voter and learner is treated as a voter;
    /// addresses and incarnations of non-members are dropped, and so are zero incarnations.
    public init(
        voters: Set<NodeID> = [], learners: Set<NodeID> = [], addresses: [NodeID: String] = [:], incarnations: [NodeID: UInt64] = [:]
    ) {
        self.voters = voters
        self.learners = learners.subtracting(voters)
        self.addresses = addresses.filter { voters.contains($0.key) || learners.contains($0.key) }
        self.incarnations = incarnations.filter { $0.value != 0 && (voters.contains($0.key) || learners.contains($0.key)) }
    }

    /// Every member, sorted so iteration is deterministic.
    public var members: [NodeID] { (self.voters.union(self.learners)).sorted() }

    /// Voters, sorted.
    public var sortedVoters: [NodeID] { self.voters.sorted() }

    /// Whether `id` is a voter or a learner.
    public func contains(_ id: NodeID) -> Bool { self.voters.contains(id) || self.learners.contains(id) }

    /// The number of votes that form a strict majority of the voters (3 of 4, 3 of 5).
    public var quorum: Int { self.voters.count / 2 + 1 }

    /// Applies a single-server change, or explains why it is not allowed.
    public func applying(_ change: ConfigurationChange) throws(RaftCoreError) -> ClusterConfiguration {
        var next = self
        let id = change.node
        guard id != 0 else { throw RaftCoreError(.invalidConfigurationChange, "node id 0 is reserved") }
        switch change.kind {
        case .addLearner:
            guard !self.contains(id) else {
                throw RaftCoreError(.invalidConfigurationChange, "node \(id) is already a member")
            }
            next.learners.insert(id)
            if let address = change.address { next.addresses[id] = address }
            if let incarnation = change.incarnation, incarnation != 0 { next.incarnations[id] = incarnation }
        case .promote:
            guard self.learners.contains(id) else {
                throw RaftCoreError(.invalidConfigurationChange, "node \(id) is not a learner")
            }
            next.learners.remove(id)
            next.voters.insert(id)
            if let incarnation = change.incarnation, incarnation != 0 { next.incarnations[id] = incarnation }
        case .demote:
            guard self.voters.contains(id) else {
                throw RaftCoreError(.invalidConfigurationChange, "node \(id) is not a voter")
            }
            guard self.voters.count > 1 else {
                throw RaftCoreError(.invalidConfigurationChange, "cannot demote the last voter")
            }
            next.voters.remove(id)
            next.learners.insert(id)
        case .remove:
            guard self.contains(id) else {
                throw RaftCoreError(.invalidConfigurationChange, "node \(id) is not a member")
            }
            guard !(self.voters.contains(id) && self.voters.count == 1) else {
                throw RaftCoreError(.invalidConfigurationChange, "cannot remove the last voter")
            }
            next.voters.remove(id)
            next.learners.remove(id)
            next.addresses[id] = nil
            next.incarnations[id] = nil
        }
        return next
    }
}

/// A single-server membership change (Raft thesis §4.1): at most one is in flight at a time.
public struct ConfigurationChange: Sendable, Hashable {
    /// The kind of change.
    public enum Kind: Sendable, Hashable {
        /// Add a node as a non-voting learner. New nodes always join this way, then get promoted.
        case addLearner
        /// Turn a learner into a voter.
        case promote
        /// Turn a voter into a learner.
        case demote
        /// Remove a voter or learner from the cluster.
        case remove
    }

    /// The kind of change.
    public var kind: Kind
    /// The node it applies to.
    public var node: NodeID
    /// For ``Kind/addLearner``: where the new member can be reached (carried in the configuration).
    public var address: String?
    /// For ``Kind/addLearner`` and ``Kind/promote``: the incarnation of the node's data directory,
    /// recorded in the configuration (see ``ClusterConfiguration/incarnations``); nil keeps what
    /// is recorded.
    public var incarnation: UInt64?

    /// Creates a change.
    public init(_ kind: Kind, node: NodeID, address: String? = nil, incarnation: UInt64? = nil) {
        self.kind = kind
        self.node = node
        self.address = address
        self.incarnation = incarnation
    }
}
