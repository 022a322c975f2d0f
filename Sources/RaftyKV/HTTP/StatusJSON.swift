internal import Rafty

/// `{"id", "address", "voter"}`: one member of the active configuration; in `/v1/status` also
/// `reachable` (heard from within two election timeouts; true for itself), `lastContact`
/// (milliseconds since this node last heard from that member; null for itself or if never),
/// `matchIndex` and `lag` (on the leader: the highest index stored there, and how many entries of
/// the leader's log it lacks; null elsewhere).
struct MemberJSON: Encodable {
    var id: UInt64
    /// The member's Raft address; null if this node does not know it yet.
    var address: String?
    var voter: Bool
    /// Present only in the status view.
    var detail: (reachable: Bool, lastContact: Int64?, matchIndex: UInt64?, lag: UInt64?)?

    enum CodingKeys: String, CodingKey {
        case id, address, voter, reachable, lastContact, matchIndex, lag
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.voter, forKey: .voter)
        if let detail = self.detail {
            try container.encode(detail.reachable, forKey: .reachable)
            try container.encode(detail.lastContact, forKey: .lastContact)
            try container.encode(detail.matchIndex, forKey: .matchIndex)
            try container.encode(detail.lag, forKey: .lag)
        }
    }

    /// The members of `status`, sorted by id; with `now`, the per-member view of `/v1/status`.
    static func members(of status: RaftNode.Status, now: ContinuousClock.Instant? = nil) -> [MemberJSON] {
        status.members.map { each in
            var member = MemberJSON(id: each.id, address: each.address, voter: each.isVoter)
            if let now {
                let contact = each.lastContact.map { milliseconds(since: $0, now: now) }
                let match = status.state == .leader ? each.matchIndex : nil
                let lag = match.map { status.lastIndex - min($0, status.lastIndex) }
                member.detail = (each.isReachable, contact, match, lag)
            }
            return member
        }
    }
}

/// Whole milliseconds from `instant` to `now`, never negative.
func milliseconds(since instant: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Int64 {
    let elapsed = now - instant
    return max(0, elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
}

/// `{"members": [...]}` for `GET /v1/members`.
struct MembersJSON: Encodable {
    var members: [MemberJSON]
}

/// The body of `GET /v1/status`. Unknown values are `null`, never omitted.
///
/// `lastLeaderContact` is the number of milliseconds since this node last heard from the leader
/// (0 on the leader itself), or null if it never has.
struct StatusJSON: Encodable {
    var id: UInt64
    var address: String
    var state: String
    var term: UInt64
    var commitIndex: UInt64
    var lastApplied: UInt64
    var leaderID: UInt64?
    var leaderAddress: String?
    var lastLeaderContact: Int64?
    var members: [MemberJSON]

    init(_ status: RaftNode.Status, now: ContinuousClock.Instant = .now) {
        self.id = status.id
        self.address = status.address
        self.state = status.state.rawValue
        self.term = status.term
        self.commitIndex = status.commitIndex
        self.lastApplied = status.lastApplied
        self.leaderID = status.leaderID
        self.leaderAddress = status.leaderAddress
        if status.state == .leader {
            self.lastLeaderContact = 0
        } else if let contact = status.lastLeaderContact {
            self.lastLeaderContact = milliseconds(since: contact, now: now)
        } else {
            self.lastLeaderContact = nil
        }
        self.members = MemberJSON.members(of: status, now: now)
    }

    enum CodingKeys: String, CodingKey {
        case id, address, state, term, commitIndex, lastApplied, leaderID, leaderAddress, lastLeaderContact, members
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.state, forKey: .state)
        try container.encode(self.term, forKey: .term)
        try container.encode(self.commitIndex, forKey: .commitIndex)
        try container.encode(self.lastApplied, forKey: .lastApplied)
        try container.encode(self.leaderID, forKey: .leaderID)
        try container.encode(self.leaderAddress, forKey: .leaderAddress)
        try container.encode(self.lastLeaderContact, forKey: .lastLeaderContact)
        try container.encode(self.members, forKey: .members)
    }
}
