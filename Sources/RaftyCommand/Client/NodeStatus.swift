/// The answer of `GET /v1/status`, decoded leniently: every field may be missing or null, and
/// identifiers may be numbers or strings.
struct NodeStatus: Codable, Equatable, Sendable {
    /// One member of the configuration.
    struct Member: Codable, Equatable, Sendable {
        /// Node id.
        var id: String?
        /// Raft address.
        var address: String?
        /// Whether it votes.
        var voter: Bool?
        /// Heard from within two election timeouts (status view only).
        var reachable: Bool?
        /// Milliseconds since the answering node last heard from it (status view only).
        var lastContact: Double?
        /// On the leader: the highest index stored there, and the entries it lacks.
        var matchIndex: UInt64?
        var lag: UInt64?

        private enum CodingKeys: String, CodingKey { case id, address, voter, reachable, lastContact, matchIndex, lag }

        /// Creates a member from its parts.
        init(
            id: String?, address: String?, voter: Bool?, reachable: Bool? = nil, lastContact: Double? = nil, matchIndex: UInt64? = nil,
            lag: UInt64? = nil
        ) {
            self.id = id
            self.address = address
            self.voter = voter
            self.reachable = reachable
            self.lastContact = lastContact
            self.matchIndex = matchIndex
            self.lag = lag
        }

        /// Decodes leniently: `id` may be a number or a string.
        /// Decodes leniently: missing, null or mistyped fields become nil.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.id = LenientText.decode(container, .id)
            self.address = LenientText.decode(container, .address)
            self.voter = try? container.decodeIfPresent(Bool.self, forKey: .voter)
            self.reachable = try? container.decodeIfPresent(Bool.self, forKey: .reachable)
            self.lastContact = try? container.decodeIfPresent(Double.self, forKey: .lastContact)
            self.matchIndex = try? container.decodeIfPresent(UInt64.self, forKey: .matchIndex)
            self.lag = try? container.decodeIfPresent(UInt64.self, forKey: .lag)
        }
    }

    /// Node id.
    var id: String?
    /// Raft address.
    var address: String?
    /// `leader`, `follower`, `candidate`, ...
    var state: String?
    /// Current term.
    var term: UInt64?
    /// Commit index.
    var commitIndex: UInt64?
    /// Last applied index.
    var lastApplied: UInt64?
    /// The leader's id, if known.
    var leaderID: String?
    /// The leader's address, if known.
    var leaderAddress: String?
    /// Milliseconds since the leader was last heard from (0 on the leader).
    var lastLeaderContact: Double?
    /// The configuration's members.
    var members: [Member]?

    private enum CodingKeys: String, CodingKey {
        case id, address, state, term, commitIndex, lastApplied, leaderID, leaderAddress, lastLeaderContact, members
    }

    /// Creates a status from its parts (all optional).
    init(
        id: String? = nil, address: String? = nil, state: String? = nil, term: UInt64? = nil,
        commitIndex: UInt64? = nil, lastApplied: UInt64? = nil, leaderID: String? = nil,
        leaderAddress: String? = nil, lastLeaderContact: Double? = nil, members: [Member]? = nil
    ) {
        self.id = id
        self.address = address
        self.state = state
        self.term = term
        self.commitIndex = commitIndex
        self.lastApplied = lastApplied
        self.leaderID = leaderID
        self.leaderAddress = leaderAddress
        self.lastLeaderContact = lastLeaderContact
        self.members = members
    }

    /// Decodes leniently: missing, null or mistyped fields become nil.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = LenientText.decode(container, .id)
        self.address = LenientText.decode(container, .address)
        self.state = LenientText.decode(container, .state)
        self.term = try? container.decodeIfPresent(UInt64.self, forKey: .term)
        self.commitIndex = try? container.decodeIfPresent(UInt64.self, forKey: .commitIndex)
        self.lastApplied = try? container.decodeIfPresent(UInt64.self, forKey: .lastApplied)
        self.leaderID = LenientText.decode(container, .leaderID)
        self.leaderAddress = LenientText.decode(container, .leaderAddress)
        self.lastLeaderContact = try? container.decodeIfPresent(Double.self, forKey: .lastLeaderContact)
        self.members = try? container.decodeIfPresent([Member].self, forKey: .members)
    }
}
