extension RawNode {
    /// Feeds a message from another node. Messages that are stale, misaddressed or malformed are ignored.
    public mutating func step(_ message: Message) {
        guard message.to == self.id, message.from != self.id, message.from != 0, message.term != 0,
            message.term <= Self.maxTermOrIndex, message.term <= self.term || message.term - self.term <= Self.maxTermJump
        else { return }
        if message.term > self.term {
            switch message.body {
            case .vote(let request), .preVote(let request):
                // A node that hears from a leader does not help depose it (thesis §4.2.3), unless
                // the leader itself asked for the election (transfer).
                if !request.isTransfer && self.inLeaderLease { return }
            default:
                break
            }
            switch message.body {
            case .preVote:
                break  // pre-votes never change terms
            case .preVoteResponse(granted: true):
                break  // granted pre-votes carry the term we would campaign in
            case .append, .heartbeat, .installSnapshot:
                self.becomeFollower(term: message.term, leader: message.from)
            case .vote:
                self.becomeFollower(term: message.term, leader: nil, keepTimer: self.role == .follower)
            default:
                self.becomeFollower(term: message.term, leader: nil)
            }
        } else if message.term < self.term {
            switch message.body {
            case .append, .heartbeat:
                // Tell a stale leader about the newer term so it steps down.
                self.send(to: message.from, .appendResponse(AppendResponse(index: 0, rejected: true)))
            case .preVote:
                self.send(to: message.from, .preVoteResponse(granted: false))
            default:
                break
            }
            return
        }

        switch message.body {
        case .preVote(let request):
            self.handleVoteRequest(message, request, isPreVote: true)
        case .vote(let request):
            self.handleVoteRequest(message, request, isPreVote: false)
        default:
            switch self.role {
            case .leader: self.stepLeader(message)
            case .candidate, .preCandidate: self.stepCandidate(message)
            case .follower: self.stepFollower(message)
            }
        }
    }

    /// The largest term or log index accepted from the network. No honest cluster gets anywhere near
    /// it, and refusing anything larger leaves room for every `term + 1` and `lastIndex + 1`.
    static let maxTermOrIndex = UInt64(Int64.max)

    /// The largest step up in term a message may bring. Terms grow by one per election, so honest
    /// nodes never come near it; without it one message at ``maxTermOrIndex`` would leave every
    /// node unable to campaign (`term + 1` refused everywhere) and the cluster leaderless for good.
    static let maxTermJump: UInt64 = 1 << 32

    /// Whether this node heard from a leader (or restarted) less than an election timeout ago. Only
    /// with check-quorum: without it a leader that hears nobody never steps down, and followers that
    /// still hear it must be able to elect a replacement.
    var inLeaderLease: Bool {
        self.options.checkQuorum && (self.leader != nil || self.startupLeaseGuard)
            && self.electionElapsed < self.options.electionTimeout
    }

    mutating func handleVoteRequest(_ message: Message, _ request: VoteRequest, isPreVote: Bool) {
        let canVote =
            self.vote == message.from
            || (self.vote == nil && self.leader == nil)
            || (isPreVote && message.term > self.term)
        // The configuration is not consulted (Raft thesis §4.1): a node may not have heard yet that it
        // or the candidate was promoted, and its vote may be the one the cluster needs. Candidates only
        // ask, and only count, the voters of their own configuration.
        if canVote && self.log.isUpToDate(lastIndex: request.lastLogIndex, lastTerm: request.lastLogTerm) {
            self.send(to: message.from, term: message.term, isPreVote ? .preVoteResponse(granted: true) : .voteResponse(granted: true))
            if !isPreVote {
                self.electionElapsed = 0
                self.vote = message.from
            }
        } else {
            self.send(to: message.from, isPreVote ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
        }
    }

    mutating func stepFollower(_ message: Message) {
        switch message.body {
        case .append(let request):
            self.electionElapsed = 0
            self.leader = message.from
            self.handleAppend(from: message.from, request)
        case .heartbeat(let heartbeat):
            self.electionElapsed = 0
            self.leader = message.from
            self.handleHeartbeat(from: message.from, heartbeat)
        case .installSnapshot(let metadata):
            self.electionElapsed = 0
            self.leader = message.from
            self.handleSnapshot(from: message.from, metadata, term: message.term)
        case .timeoutNow:
            if self.isVoter { self.becomeCandidate(isTransfer: true) }
        case .readIndexResponse(let context, let index):
            if message.from == self.leader { self.readStates.append(ReadState(context: context, index: index)) }
        default:
            break
        }
    }

    mutating func stepCandidate(_ message: Message) {
        switch message.body {
        case .append, .heartbeat, .installSnapshot:
            self.becomeFollower(term: message.term, leader: message.from)
            self.stepFollower(message)
        case .preVoteResponse(let granted) where self.role == .preCandidate:
            self.recordVote(from: message.from, granted: granted)
        case .voteResponse(let granted) where self.role == .candidate:
            self.recordVote(from: message.from, granted: granted)
        default:
            break
        }
    }

    mutating func stepLeader(_ message: Message) {
        guard self.progress[message.from] != nil else { return }
        self.progress[message.from]!.recentActive = true
        switch message.body {
        case .appendResponse(let response):
            self.handleAppendResponse(from: message.from, response)
        case .heartbeatResponse(let response):
            self.handleHeartbeatResponse(from: message.from, response)
        case .readIndex(let context):
            self.handleReadRequest(context: context, from: message.from, lease: false)
        default:
            break
        }
    }

    // MARK: - Sending

    /// Queues a message in the current term. Replication traffic from the leader, heartbeat answers
    /// and read-index traffic may leave before the host persists; votes and append acknowledgements
    /// only after.
    mutating func send(to peer: NodeID, term: UInt64? = nil, _ body: Message.Body) {
        let message = Message(from: self.id, to: peer, term: term ?? self.term, body: body)
        switch body {
        case .append, .heartbeat, .installSnapshot, .timeoutNow, .readIndexResponse, .heartbeatResponse, .readIndex:
            // A heartbeat's answer acknowledges only the term, and no vote of this node's is ever
            // sent before it is stored; a read-index request asks: neither waits for an fsync (as
            // in etcd-io/raft).
            self.messages.append(message)
        default:
            self.persistedMessages.append(message)
        }
    }
}
