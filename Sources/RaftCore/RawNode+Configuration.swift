extension RawNode {
    /// Tuning of the algorithm, in ticks and counts. The host decides how long a tick is.
    public struct Configuration: Sendable, Hashable {
        /// This node's id (non-zero).
        public var id: NodeID
        /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is
        /// randomized in `electionTimeout ..< 2 * electionTimeout`. Default 10.
        public var electionTimeout: Int = 10
        /// Ticks between leader heartbeats; must be less than `electionTimeout`. Default 1.
        public var heartbeatInterval: Int = 1
        /// Run a pre-vote before a real election (Raft thesis §9.6). Default true.
        public var preVote: Bool = true
        /// A leader that has not heard from a majority within an election timeout steps down. Default true.
        /// Lease reads require it.
        public var checkQuorum: Bool = true
        /// At most this many entries per append message. Default 64.
        public var maxAppendEntries: Int = 64
        /// About this many bytes of entries per append message (at least one entry is sent). Default 1 MiB.
        public var maxMessageBytes: Int = 1 << 20
        /// At most this many unacknowledged appends per follower in replicate state. Default 256.
        public var maxInflightMessages: Int = 256
        /// At most about this many bytes of entries in unacknowledged appends per follower in
        /// replicate state (etcd's MaxInflightBytes; one append is always allowed): with large
        /// commands the message window alone would let a leader queue hundreds of MiB per follower.
        /// Default 16 MiB.
        public var maxInflightBytes: Int = 16 << 20
        /// Ticks subtracted from the election timeout to bound a leader lease, covering clock drift
        /// between nodes. Must be in `1 ..< electionTimeout`. Default 3: a follower refuses votes
        /// for at least `electionTimeout - 1` of its ticks after hearing the leader, the lease lasts
        /// at most `electionTimeout - leaseDriftMargin` of the leader's, so leases are safe while no
        /// clock runs more than `(electionTimeout - 1) / (electionTimeout - leaseDriftMargin)` times
        /// as fast as another: 9/7, 28 %, with the defaults. See ``leaseDriftMargin(electionTimeout:)``.
        public var leaseDriftMargin: Int = 3
        /// When the commit index advances, tell only the followers that wait for it (see
        /// ``RawNode/peerWaitsForCommit(_:through:)``; followers' read-index requests count too) in a
        /// message of its own; the others learn it from the next append or heartbeat. Off (every
        /// follower is sent an append at once): a write costs twice the messages, but followers'
        /// stale reads lag less. Default false.
        public var commitOnDemand: Bool = false
        /// Seed of the generator that randomizes election timeouts.
        public var randomSeed: UInt64 = 0

        /// Creates a configuration with defaults for everything but the id.
        public init(id: NodeID) {
            self.id = id
        }

        /// The smallest drift margin that keeps leases safe while clocks run up to 20 % apart (no
        /// clock more than 1.2 times as fast as another): 3 ticks for an election timeout of 10,
        /// 18 for 100. An election timeout below 4 leaves no such margin; the result is then the
        /// largest allowed, `electionTimeout - 1`.
        public static func leaseDriftMargin(electionTimeout: Int) -> Int {
            let leaseTicks = (electionTimeout - 1) * 5 / 6
            return min(max(1, electionTimeout - leaseTicks), max(1, electionTimeout - 1))
        }

        /// The largest election timeout or heartbeat interval, in ticks.
        public static let maxTicks = 1_000_000

        /// Rejects out-of-range values with an error naming the field and the allowed range.
        public func validate() throws(RaftCoreError) {
            func fail(_ message: String) -> RaftCoreError { RaftCoreError(.invalidConfiguration, message) }
            guard self.id != 0 else { throw fail("id must be non-zero") }
            // Upper bounds keep every sum and product of these values far from overflowing.
            guard (1...Self.maxTicks).contains(self.heartbeatInterval) else {
                throw fail("heartbeatInterval must be in 1...\(Self.maxTicks) ticks, got \(self.heartbeatInterval)")
            }
            guard self.electionTimeout > self.heartbeatInterval, self.electionTimeout <= Self.maxTicks else {
                throw fail(
                    "electionTimeout (\(self.electionTimeout)) must be greater than heartbeatInterval (\(self.heartbeatInterval)) and at most \(Self.maxTicks)")
            }
            guard (1...1_000_000).contains(self.maxAppendEntries) else { throw fail("maxAppendEntries must be in 1...1000000, got \(self.maxAppendEntries)") }
            guard (1...(1 << 30)).contains(self.maxMessageBytes) else { throw fail("maxMessageBytes must be in 1...\(1 << 30), got \(self.maxMessageBytes)") }
            guard (1...1_000_000).contains(self.maxInflightMessages) else {
                throw fail("maxInflightMessages must be in 1...1000000, got \(self.maxInflightMessages)")
            }
            guard self.maxInflightBytes >= 1 else { throw fail("maxInflightBytes must be at least 1, got \(self.maxInflightBytes)") }
            guard self.leaseDriftMargin >= 1, self.leaseDriftMargin < self.electionTimeout else {
                throw fail("leaseDriftMargin must be in 1..<electionTimeout (\(self.electionTimeout))")
            }
        }
    }

    /// What a node had persisted when it stopped: the input for a restart.
    public struct PersistentState: Sendable, Hashable {
        /// The stored hard state.
        public var hardState: HardState
        /// The newest stored snapshot, if any.
        public var snapshot: SnapshotMetadata?
        /// Stored entries, consecutive; entries at or below the snapshot index are ignored.
        ///
        /// Commands may be ``Entry/Payload/evictedCommand(byteCount:)`` placeholders, so a long
        /// stored log need not be held in memory: the host then replaces them from its log store
        /// before it applies them (``Ready/committedEntries``) or sends them (``Message/evictedRange``).
        public var entries: [Entry]

        /// Creates persistent state.
        public init(hardState: HardState = HardState(), snapshot: SnapshotMetadata? = nil, entries: [Entry] = []) {
            self.hardState = hardState
            self.snapshot = snapshot
            self.entries = entries
        }
    }

    /// A read-only summary of the node's state.
    public struct Status: Sendable, Hashable {
        /// This node's id.
        public var id: NodeID
        /// Current term.
        public var term: UInt64
        /// Vote in the current term.
        public var vote: NodeID?
        /// Current role.
        public var role: Role
        /// Known leader.
        public var leader: NodeID?
        /// Commit index.
        public var commitIndex: UInt64
        /// Highest index handed out for applying.
        public var appliedIndex: UInt64
        /// First index still held in memory.
        public var firstIndex: UInt64
        /// Last log index.
        public var lastIndex: UInt64
        /// Active configuration (the last one appended).
        public var configuration: ClusterConfiguration
        /// On a leader: each follower's match index.
        public var matchIndex: [NodeID: UInt64]
    }
}
