public import CoreMetrics
public import Logging
public import RaftCore

#if canImport(Glibc)
    import Glibc
#endif

extension RaftNode {
    /// How a node runs. Every field has a sound default but ``id``; out-of-range values are
    /// rejected by ``validate()`` with a ``RaftError`` naming the field and its range.
    public struct Configuration: Sendable {
        /// This node's id (non-zero, unique in the cluster).
        public var id: NodeID
        /// Where this node listens: `host` or `host:port` (port 50051 if omitted; IPv6 as `[::1]:7000`;
        /// see ``PeerAddress``). Default `127.0.0.1:50051`.
        public var address: String = "127.0.0.1:50051"
        /// The other nodes' addresses, in the form of ``address``.
        public var peers: [String] = []
        /// Scales every timeout (tick, election, heartbeat, RPC deadlines); 1...10, default 1.
        public var timeMultiplier: Int = 1
        /// Voters (this node included) whose ids a fresh node must know before it campaigns; default 3.
        public var minimumClusterSize: Int = 3
        /// Entries per replication message; 1...100_000, default 1000.
        public var maxAppendEntries: Int = 1000
        /// Where state is kept; default `<system temp>/rafty/<id>`.
        public var dataDirectory: String?
        /// Keep state on disk (default) or in memory only (lost when the process ends).
        public var persistDataOnDisk: Bool = true
        /// A read-only node replicates but never votes or campaigns.
        public var isVoter: Bool = true
        /// Run a pre-vote before elections (default true).
        public var preVote: Bool = true
        /// Take a snapshot after this many applied entries; default 10_000, at least 1.
        public var snapshotThreshold: UInt64 = 10_000
        /// Entries kept behind a snapshot for slow followers; default 1_000.
        public var trailingLogs: UInt64 = 1_000
        /// Base tick length before the multiplier; default 50 ms. Timeouts are counted in ticks of
        /// the node's ``clock``: a node that was paused or starved catches up every tick that
        /// elapsed before it handles anything else.
        public var tickInterval: Duration = .milliseconds(50)
        /// The election timeout in ticks (randomized up to twice as long); 3...10_000, default 10.
        /// A leader's lease lasts this long minus a fifth (at least 2 ticks) from the heartbeat a
        /// majority acknowledged: lease reads assume the nodes' clocks run less than 20 % apart.
        public var electionTicks: Int = 10
        /// How often a leader sends heartbeats, in ticks; 1..<electionTicks, default 1.
        public var heartbeatTicks: Int = 1
        /// Backpressure: the leader refuses new proposals with ``RaftError/Code/overloaded`` (not
        /// applied) while this many log entries wait to be applied; at least 1, default 8192.
        public var maxUnappliedEntries: Int = 8192
        /// Backpressure: the leader refuses a new proposal with ``RaftError/Code/overloaded`` when
        /// its proposals not yet applied would hold more than this many bytes (like etcd's
        /// uncommitted-size limit; one larger command is accepted when none wait); at least 1,
        /// default 64 MiB.
        public var maxUnappliedBytes: Int = 64 << 20
        /// Backpressure: reads waiting for their read index or for apply beyond which new reads are
        /// refused with ``RaftError/Code/overloaded``; at least 1, default 8192.
        public var maxPendingReads: Int = 8192
        /// Bytes of command payloads the in-memory log keeps: older commands that are applied and
        /// persisted are dropped from memory and read back from the log store when a lagging
        /// follower needs them, so memory does not grow with the log; at least 0, default 64 MiB.
        public var inMemoryLogBytes: Int = 64 << 20
        /// The time source of every timer; default the system's monotonic clock.
        public var clock: any NodeClock = SystemNodeClock()
        /// How a node without stored state starts: forming the cluster with its peers (the
        /// default), joining a running one, or waiting for a bootstrap call. Ignored when the data
        /// directory already holds state: a restarted node resumes from it.
        public var startMode: StartMode = .form
        /// Stop once this node learns that it was removed from the cluster (from its own log, or
        /// from the leader's answer when it stops hearing from it). Default true.
        public var shutdownOnRemove: Bool = true
        /// On a graceful ``RaftNode/stop()``, ask the leader to remove this node first.
        public var leaveOnStop: Bool = false
        /// How long a new voter may take to catch up with the log before
        /// ``RaftNode/addMember(id:address:asVoter:timeout:)`` gives up (it stays a read-only member). Default 10 s.
        public var memberCatchUpTimeout: Duration = .seconds(10)
        /// Mixed into the id of a cluster this node forms, with the first members' ids (etcd's
        /// `--initial-cluster-token`): give clusters that share node ids different tokens and
        /// their nodes refuse each other. Every node formed together must have the same one;
        /// default `rafty`. Ignored once the data directory holds a cluster id.
        public var clusterToken: String = "rafty"
        /// Where the runtime logs (debug: elections and role changes). Default: no logging.
        public var logger: Logger = Logger(label: "rafty", factory: { _ in SwiftLogNoOpLogHandler() })
        /// Where the runtime reports metrics (`raft.term`, `raft.commit_index`, `raft.applied_index`,
        /// `raft.state`, `raft.elections`, `raft.proposals`, `raft.overloaded`, `raft.proposal.duration`,
        /// `raft.storage.fsync.duration`, `raft.storage.append.batch_size`, `raft.replication.lag`).
        /// Default: the global `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)?

        /// Stores of your own (``RaftStorage/init(log:stable:snapshots:identity:)``), made once when
        /// the node starts; when set, ``dataDirectory`` and ``persistDataOnDisk`` are not used.
        /// Default nil: the file stores in ``dataDirectory``, or in-memory ones.
        public var makeStorage: (@Sendable () throws -> RaftStorage)?

        /// Creates a configuration with defaults for everything but the id.
        public init(id: NodeID) {
            self.id = id
        }

        /// The data directory actually used.
        public var resolvedDataDirectory: String {
            if let dataDirectory { return dataDirectory }
            let temporary = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            return "\(temporary)/rafty/\(self.id)"
        }

        /// One tick, multiplier applied.
        var tick: Duration { self.tickInterval * self.timeMultiplier }
        /// The (shortest) election timeout, multiplier applied.
        var electionTimeout: Duration { self.tick * self.electionTicks }

        /// Rejects out-of-range values.
        public func validate() throws(RaftError) {
            func fail(_ message: String) -> RaftError { RaftError(.invalidConfiguration, message) }
            guard self.id != 0 else { throw fail("id must be non-zero") }
            guard (1...10).contains(self.timeMultiplier) else {
                throw fail("timeMultiplier must be in 1...10, got \(self.timeMultiplier)")
            }
            guard self.minimumClusterSize >= 1 else {
                throw fail("minimumClusterSize must be at least 1, got \(self.minimumClusterSize)")
            }
            guard (1...100_000).contains(self.maxAppendEntries) else {
                throw fail("maxAppendEntries must be in 1...100000, got \(self.maxAppendEntries)")
            }
            guard self.snapshotThreshold >= 1 else { throw fail("snapshotThreshold must be at least 1") }
            guard (1...256).contains(self.clusterToken.utf8.count) else {
                throw fail("clusterToken must be 1 to 256 bytes long, got \(self.clusterToken.utf8.count)")
            }
            guard self.tickInterval > .zero, self.tickInterval <= .seconds(60) else {
                throw fail("tickInterval must be positive and at most 60 s")
            }
            guard (3...10_000).contains(self.electionTicks) else {
                throw fail("electionTicks must be in 3...10000, got \(self.electionTicks)")
            }
            guard self.heartbeatTicks >= 1, self.heartbeatTicks < self.electionTicks else {
                throw fail("heartbeatTicks must be in 1..<electionTicks (\(self.electionTicks)), got \(self.heartbeatTicks)")
            }
            guard self.memberCatchUpTimeout > .zero else { throw fail("memberCatchUpTimeout must be positive") }
            guard self.maxUnappliedEntries >= 1 else { throw fail("maxUnappliedEntries must be at least 1, got \(self.maxUnappliedEntries)") }
            guard self.maxUnappliedBytes >= 1 else { throw fail("maxUnappliedBytes must be at least 1, got \(self.maxUnappliedBytes)") }
            guard self.inMemoryLogBytes >= 0 else { throw fail("inMemoryLogBytes must be at least 0, got \(self.inMemoryLogBytes)") }
            guard self.maxPendingReads >= 1 else { throw fail("maxPendingReads must be at least 1, got \(self.maxPendingReads)") }
            _ = try Self.normalize(address: self.address, field: "address")
            for peer in self.peers { _ = try Self.normalize(address: peer, field: "peers") }
        }

        /// An address as nodes exchange and compare it (``PeerAddress/description``: the port
        /// added, 50051 by default; an IPv6 literal in brackets).
        static func normalize(address: String, field: String) throws(RaftError) -> String {
            do {
                return try PeerAddress(parsing: address).description
            } catch {
                throw RaftError(.invalidConfiguration, "\(field): \(error.message)")
            }
        }
    }

    /// A node's externally visible state.
    public struct Status: Sendable, Hashable {
        /// The node's id.
        public var id: NodeID
        /// The node's address.
        public var address: String
        /// `down` before start and after stop, else the Raft role.
        public var state: State
        /// Current term.
        public var term: UInt64
        /// Highest committed index.
        public var commitIndex: UInt64
        /// Highest index applied to the state machine.
        public var lastApplied: UInt64
        /// The leader this node knows of, if any.
        public var leader: Leader?
        /// The known leader's id (``leader``'s).
        public var leaderID: NodeID? { self.leader?.id }
        /// The known leader's address (``leader``'s).
        public var leaderAddress: String? { self.leader?.address }
        /// When this node last heard from a leader.
        public var lastLeaderContact: ContinuousClock.Instant?
        /// The members of the active configuration, by id (this node included when it is one).
        public var members: [Member]
        /// The index of the last entry in this node's log.
        public var lastIndex: UInt64 = 0
        /// Members of the configuration at the commit index.
        var committedMembers: Set<NodeID> = []
        /// Whether this node is in the cluster's configuration (false for a node that waits to be
        /// added, or was removed; such a node never campaigns).
        public var isMember: Bool = false

        /// A node's state.
        public enum State: String, Sendable, Hashable {
            /// Not running.
            case down
            /// Following (or waiting for) a leader.
            case follower
            /// Running a pre-vote or an election.
            case candidate
            /// Leading.
            case leader
            /// A read-only member.
            case readOnly
        }

        /// The member with this id, if it is one.
        public func member(_ id: NodeID) -> Member? { self.members.first { $0.id == id } }

        /// A leader: its id and the address its peers reach it at.
        public struct Leader: Sendable, Hashable {
            /// The leader's id.
            public var id: NodeID
            /// The leader's address ("" while unknown).
            public var address: String

            /// Creates a leader.
            public init(id: NodeID, address: String) {
                self.id = id
                self.address = address
            }
        }

        /// A member of the active configuration as this node sees it.
        public struct Member: Sendable, Hashable {
            /// The member's id.
            public var id: NodeID
            /// Its address, if this node knows it.
            public var address: String?
            /// Whether it votes (false: a read-only member).
            public var isVoter: Bool
            /// When this node last heard from it (nil for this node itself, or never).
            public var lastContact: ContinuousClock.Instant?
            /// On the leader: the highest log index known to be stored on it (nil on other nodes,
            /// and for the leader itself).
            public var matchIndex: UInt64?
            /// Whether it was heard from within two election timeouts (always true for this node
            /// itself; the Go library's `down` state is false here).
            public var isReachable: Bool

            /// Creates a member.
            public init(
                id: NodeID, address: String?, isVoter: Bool, lastContact: ContinuousClock.Instant? = nil, matchIndex: UInt64? = nil,
                isReachable: Bool = false
            ) {
                self.id = id
                self.address = address
                self.isVoter = isVoter
                self.lastContact = lastContact
                self.matchIndex = matchIndex
                self.isReachable = isReachable
            }

            /// Compares all fields but the contact time.
            public static func == (a: Member, b: Member) -> Bool {
                (a.id, a.address, a.isVoter, a.matchIndex, a.isReachable) == (b.id, b.address, b.isVoter, b.matchIndex, b.isReachable)
            }

            /// Hashes the id and the role.
            public func hash(into hasher: inout Hasher) {
                hasher.combine(self.id)
                hasher.combine(self.isVoter)
            }
        }

        /// Compares all fields but contact times.
        public static func == (a: Status, b: Status) -> Bool {
            (a.id, a.address, a.state, a.term, a.commitIndex, a.lastApplied) == (b.id, b.address, b.state, b.term, b.commitIndex, b.lastApplied)
                && a.leader == b.leader && a.members == b.members && a.isMember == b.isMember
        }

        /// Hashes all fields but the leader-contact time.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.id)
            hasher.combine(self.term)
            hasher.combine(self.commitIndex)
        }
    }

    /// How a read is served.
    public enum ReadConsistency: Sendable, Hashable {
        /// Confirmed with the leader (ReadIndex): sees every write acknowledged before it started.
        case linearizable
        /// Served by the leader from its lease when valid, else as linearizable.
        case lease
        /// From this node's state machine, which may lag.
        case stale
    }
}

extension RaftNode {
    /// How a node without stored state enters a cluster (``Configuration-swift.struct/startMode``).
    public enum StartMode: Sendable, Hashable {
        /// Form the cluster with `peers`: learn their ids, and start once every peer and at least
        /// ``Configuration-swift.struct/minimumClusterSize`` voters are known.
        case form
        /// Start outside the cluster and wait to be added (``RaftNode/addMember(id:address:asVoter:timeout:)``
        /// on the leader): no discovery wait, never campaigns until a configuration names it a
        /// voter. `peers` should name at least one member.
        case join
        /// Start outside any cluster and never campaign until ``RaftNode/bootstrap(timeout:)`` is
        /// called on one node (which then forms the cluster from itself and its `peers`), or until
        /// a leader adds this node.
        case awaitBootstrap
    }
}
