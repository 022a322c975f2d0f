/// A message between Raft nodes.
///
/// Messages arrive from the network and are untrusted: the core validates every field and ignores
/// what does not make sense.
public struct Message: Sendable, Hashable {
    /// The sender.
    public var from: NodeID
    /// The recipient.
    public var to: NodeID
    /// The sender's term (for a pre-vote request: the term it would campaign in).
    public var term: UInt64
    /// The content.
    public var body: Body

    /// Creates a message.
    public init(from: NodeID, to: NodeID, term: UInt64, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    /// The kinds of message and their fields.
    public enum Body: Sendable, Hashable {
        /// Asks for a pre-vote (Raft thesis §9.6); the receiver's term does not change.
        case preVote(VoteRequest)
        /// Answers a pre-vote.
        case preVoteResponse(granted: Bool)
        /// Asks for a vote (§5.2).
        case vote(VoteRequest)
        /// Answers a vote request.
        case voteResponse(granted: Bool)
        /// Replicates entries (§5.3).
        case append(AppendRequest)
        /// Answers `append` and `installSnapshot`.
        case appendResponse(AppendResponse)
        /// Asserts leadership, carries the commit index and confirms read rounds and leases.
        case heartbeat(Heartbeat)
        /// Answers a heartbeat, echoing its round and send tick.
        case heartbeatResponse(HeartbeatResponse)
        /// Tells a follower whose next entry was compacted to install a snapshot. The transport
        /// attaches the snapshot bytes of the sender's snapshot at `metadata.index`.
        case installSnapshot(SnapshotMetadata)
        /// Tells the transfer target to campaign at once (leadership transfer).
        case timeoutNow
        /// A follower asks the leader to confirm a read index for `context`.
        case readIndex(context: UInt64)
        /// The leader's answer to `readIndex`: reads with `context` may be served once `index` is applied.
        case readIndexResponse(context: UInt64, index: UInt64)
        /// A follower forwards its clients' commands to the leader, as one batch. The core only
        /// keeps its term rules for it; the node runtime proposes the commands and answers.
        case forwardedProposals(ForwardedProposals)
        /// The leader's answer to `forwardedProposals`: where the commands went in its log.
        case forwardedProposalsResponse(ForwardedProposalsResponse)
    }
}

/// Commands a follower forwards to the leader on its clients' behalf.
public struct ForwardedProposals: Sendable, Hashable {
    /// Chosen by the follower to match the answer.
    public var context: UInt64
    /// The commands, in the order the follower received them.
    public var commands: [[UInt8]]

    /// Creates a batch of forwarded commands.
    public init(context: UInt64, commands: [[UInt8]]) {
        self.context = context
        self.commands = commands
    }
}

/// The leader's answer to ``ForwardedProposals``: the first `accepted` commands are in its log at
/// consecutive indices from `firstIndex`, in `term`; the others were refused for `refusal` and are
/// not in the log.
public struct ForwardedProposalsResponse: Sendable, Hashable {
    /// Why a leader refuses forwarded commands.
    public enum Refusal: UInt8, Sendable, Hashable {
        /// It is not (or no longer) the leader, or it is transferring leadership.
        case notLeader = 1
        /// Too much waits to be applied (backpressure).
        case overloaded = 2
        /// The command is not acceptable.
        case rejected = 3
    }

    /// The batch's context.
    public var context: UInt64
    /// The index of the first accepted command (0 when none was).
    public var firstIndex: UInt64
    /// The term the accepted commands were appended in.
    public var term: UInt64
    /// How many commands, from the first, were appended.
    public var accepted: Int
    /// Why the remaining commands were refused (nil when all were accepted).
    public var refusal: Refusal?

    /// Creates an answer.
    public init(context: UInt64, firstIndex: UInt64, term: UInt64, accepted: Int, refusal: Refusal?) {
        self.context = context
        self.firstIndex = firstIndex
        self.term = term
        self.accepted = accepted
        self.refusal = refusal
    }
}

/// The fields of a vote or pre-vote request.
public struct VoteRequest: Sendable, Hashable {
    /// Index of the candidate's last log entry.
    public var lastLogIndex: UInt64
    /// Term of the candidate's last log entry.
    public var lastLogTerm: UInt64
    /// Set when a leadership transfer caused the campaign: voters then ignore their leader lease.
    public var isTransfer: Bool

    /// Creates a vote request.
    public init(lastLogIndex: UInt64, lastLogTerm: UInt64, isTransfer: Bool = false) {
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.isTransfer = isTransfer
    }
}

/// The fields of an AppendEntries request.
public struct AppendRequest: Sendable, Hashable {
    /// Index of the entry just before `entries`.
    public var prevLogIndex: UInt64
    /// Term of the entry at `prevLogIndex`.
    public var prevLogTerm: UInt64
    /// The entries to append, with consecutive indices starting at `prevLogIndex + 1`.
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: UInt64

    /// Creates an append request.
    public init(prevLogIndex: UInt64, prevLogTerm: UInt64, entries: [Entry], commit: UInt64) {
        self.prevLogIndex = prevLogIndex
        self.prevLogTerm = prevLogTerm
        self.entries = entries
        self.commit = commit
    }
}

/// The answer to an append or snapshot.
public struct AppendResponse: Sendable, Hashable {
    /// On success, the index of the follower's last entry known to match the leader; on a
    /// rejection, the `prevLogIndex` that was rejected.
    public var index: UInt64
    /// Whether the entries were rejected because the consistency check failed.
    public var rejected: Bool
    /// On a rejection: the follower's best guess of where the logs may match (fast backup) …
    public var hintIndex: UInt64
    /// … and the term of its entry at `hintIndex`.
    public var hintTerm: UInt64

    /// Creates an append response.
    public init(index: UInt64, rejected: Bool = false, hintIndex: UInt64 = 0, hintTerm: UInt64 = 0) {
        self.index = index
        self.rejected = rejected
        self.hintIndex = hintIndex
        self.hintTerm = hintTerm
    }
}

/// The fields of a heartbeat.
public struct Heartbeat: Sendable, Hashable {
    /// The commit index, capped at what the follower is known to have.
    public var commit: UInt64
    /// The leader's read-confirmation round (ReadIndex).
    public var round: UInt64
    /// The leader's tick count when it sent this heartbeat (leases).
    public var sentTick: UInt64

    /// Creates a heartbeat.
    public init(commit: UInt64, round: UInt64, sentTick: UInt64) {
        self.commit = commit
        self.round = round
        self.sentTick = sentTick
    }
}

/// The answer to a heartbeat.
public struct HeartbeatResponse: Sendable, Hashable {
    /// The round of the heartbeat being answered.
    public var round: UInt64
    /// The send tick of the heartbeat being answered.
    public var sentTick: UInt64

    /// Creates a heartbeat response.
    public init(round: UInt64, sentTick: UInt64) {
        self.round = round
        self.sentTick = sentTick
    }
}
