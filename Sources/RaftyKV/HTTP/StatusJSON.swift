internal import Rafty

/// `{"id", "address", "voter"}`: one member of the active configuration.
struct MemberJSON: Encodable {
    var id: UInt64
    /// The member's Raft address; null if this node does not know it yet.
    var address: String?
    var voter: Bool

    enum CodingKeys: String, CodingKey {
        case id, address, voter
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.voter, forKey: .voter)
    }

    /// The members of `status`, sorted by id.
    static func members(of status: RaftNode.Status) -> [MemberJSON] {
        status.members.keys.sorted().map { id in
            MemberJSON(id: id, address: status.memberAddresses[id], voter: status.members[id]!)
        }
    }
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
            let elapsed = now - contact
            self.lastLeaderContact = max(0, elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        } else {
            self.lastLeaderContact = nil
        }
        self.members = MemberJSON.members(of: status)
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
