/// The role a node plays.
public enum Role: Sendable, Hashable, CustomStringConvertible {
    /// Follows a leader (or waits for one).
    case follower
    /// Checks with a pre-vote whether it could win an election, without changing terms.
    case preCandidate
    /// Campaigns for leadership in a new term.
    case candidate
    /// Leads the cluster.
    case leader

    /// The role's name.
    public var description: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}

/// Volatile state that the host may want to observe: role and leader.
public struct SoftState: Sendable, Hashable {
    /// This node's role.
    public var role: Role
    /// The leader this node knows of in the current term.
    public var leader: NodeID?

    /// Creates a soft state.
    public init(role: Role, leader: NodeID?) {
        self.role = role
        self.leader = leader
    }
}

/// A confirmed read: the read with `context` may be served once the state machine has applied `index`.
public struct ReadState: Sendable, Hashable {
    /// The context the host passed to `readIndex`.
    public var context: UInt64
    /// The commit index at the time leadership was confirmed.
    public var index: UInt64

    /// Creates a read state.
    public init(context: UInt64, index: UInt64) {
        self.context = context
        self.index = index
    }
}

/// Everything the host must do after feeding the core input, in this order:
///
/// 1. Send ``messages`` (they may go out while step 2 runs).
/// 2. Persist, in this order, so that a crash between any two steps leaves a state a restart
///    accepts: store ``hardState``'s term and vote (with a commit index no greater than the
///    entries already stored that this Ready keeps); if ``snapshot`` is set, store it (its bytes
///    came with the message that carried it), restore the state machine from it, then drop every
///    log entry; then truncate the log from `entries.first.index` and append ``entries`` — and
///    fsync. (No stored entry or snapshot is then ever newer than the stored term. A host that
///    restarts between storing a snapshot and dropping the log keeps the entries after the
///    snapshot only if its log holds the snapshot's last entry with the snapshot's term.)
/// 3. Send ``persistedMessages`` (they acknowledge what step 2 made durable).
/// 4. Apply ``committedEntries`` in order; serve reads in ``readStates`` once applied up to their index.
///    (A host may hand the entries to its state machine and call ``RawNode/advance(_:)`` before the
///    state machine finished, as long as it applies them in order and serves each read only once
///    its index is applied.)
/// 5. Call ``RawNode/advance(_:)`` with this value.
///
/// No other call may be made on the node between ``RawNode/ready()`` and ``RawNode/advance(_:)``.
public struct Ready: Sendable, Hashable {
    /// Role and leader, if they changed since the last `Ready`.
    public var softState: SoftState?
    /// The hard state to persist, if it changed.
    public var hardState: HardState?
    /// A snapshot received from the leader to install, if any.
    public var snapshot: SnapshotMetadata?
    /// Entries to persist; the host first deletes any stored entries at or after the first index.
    public var entries: [Entry]
    /// Messages that can be sent before persisting (the leader's replication traffic, heartbeat
    /// answers, read-index requests and answers).
    public var messages: [Message]
    /// Messages that may be sent only after persisting (votes, append acknowledgements).
    public var persistedMessages: [Message]
    /// Committed entries to apply to the state machine, in order. Commands loaded as placeholders
    /// at start-up (``RawNode/PersistentState/entries``) arrive as such: read them back first.
    public var committedEntries: [Entry]
    /// Reads whose index is now confirmed.
    public var readStates: [ReadState]
    /// Read contexts that this node could not serve (no leader, lost leadership); fail them now.
    public var droppedReads: [UInt64]

    /// Whether the host must fsync before sending ``persistedMessages``.
    public var mustSync: Bool { self.hardState != nil || !self.entries.isEmpty || self.snapshot != nil }

    /// Creates an empty ready.
    public init() {
        self.entries = []
        self.messages = []
        self.persistedMessages = []
        self.committedEntries = []
        self.readStates = []
        self.droppedReads = []
    }

    /// Whether there is nothing to do.
    public var isEmpty: Bool {
        self.softState == nil && self.hardState == nil && self.snapshot == nil && self.entries.isEmpty
            && self.messages.isEmpty && self.persistedMessages.isEmpty && self.committedEntries.isEmpty
            && self.readStates.isEmpty && self.droppedReads.isEmpty
    }
}
