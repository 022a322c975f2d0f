extension RawNode {
    mutating func resetRandomizedElectionTimeout() {
        let timeout = self.options.electionTimeout
        self.randomizedElectionTimeout = timeout + Int.random(in: 0..<timeout, using: &self.rng)
    }

    mutating func tickElection() {
        self.electionElapsed += 1
        if self.electionElapsed >= self.options.electionTimeout { self.startupLeaseGuard = false }
        if self.mayCampaign && self.electionElapsed >= self.randomizedElectionTimeout {
            self.electionElapsed = 0
            self.campaign()
        }
    }

    mutating func tickLeader() {
        self.heartbeatElapsed += 1
        self.electionElapsed += 1
        if self.electionElapsed >= self.options.electionTimeout {
            self.electionElapsed = 0
            if self.options.checkQuorum {
                guard self.quorumRecentlyActive() else {
                    self.becomeFollower(term: self.term, leader: nil)
                    return
                }
                for id in self.progress.keys { self.progress[id]!.recentActive = false }
            }
            // A transfer that did not finish within an election timeout is abandoned.
            self.leadTransferee = nil
        }
        if self.heartbeatElapsed >= self.options.heartbeatInterval {
            self.heartbeatElapsed = 0
            self.broadcastHeartbeat()
            // A TimeoutNow may be lost like any message: repeat it while the target is caught up,
            // or the transfer would wait for its abort. The target campaigns at most once per term.
            if let target = self.leadTransferee, self.progress[target]?.match == self.log.lastIndex {
                self.sendTimeoutNow(to: target)
            }
        }
    }

    func quorumRecentlyActive() -> Bool {
        let active = self.configuration.voters.filter { $0 == self.id || self.progress[$0]?.recentActive == true }
        return active.count >= self.configuration.quorum
    }

    /// - Parameter keepTimer: keep the election timer running (a newer term learned from a vote
    ///   request we may reject must not postpone our own campaign, or a candidate with a stale log
    ///   could keep the cluster leaderless; Raft §5.2 resets the timer only on granting a vote).
    mutating func becomeFollower(term: UInt64, leader: NodeID?, keepTimer: Bool = false) {
        let elapsed = self.electionElapsed
        if term > self.term {
            self.term = term
            self.vote = nil
        }
        if self.role == .leader {
            // Reads this node was confirming can no longer be answered.
            for read in self.pendingReads + self.readsAwaitingCommit where read.from == self.id {
                self.droppedReads.append(read.context)
            }
        }
        self.role = .follower
        self.leader = leader
        self.resetRoleState()
        if keepTimer { self.electionElapsed = elapsed }
    }

    mutating func becomePreCandidate() {
        self.role = .preCandidate
        self.leader = nil
        self.resetRoleState()
        self.votes = [self.id: true]
        if self.tallyVotes() { return }
        let request = VoteRequest(lastLogIndex: self.log.lastIndex, lastLogTerm: self.log.lastTerm)
        for peer in self.configuration.sortedVoters where peer != self.id {
            self.send(to: peer, term: self.term + 1, .preVote(request))
        }
    }

    mutating func becomeCandidate(isTransfer: Bool) {
        self.term += 1
        self.vote = self.id
        self.role = .candidate
        self.leader = nil
        self.resetRoleState()
        self.votes = [self.id: true]
        if self.tallyVotes() { return }
        let request = VoteRequest(lastLogIndex: self.log.lastIndex, lastLogTerm: self.log.lastTerm, isTransfer: isTransfer)
        for peer in self.configuration.sortedVoters where peer != self.id {
            self.send(to: peer, .vote(request))
        }
    }

    mutating func recordVote(from peer: NodeID, granted: Bool) {
        guard self.configuration.voters.contains(peer), self.votes[peer] == nil else { return }
        self.votes[peer] = granted
        self.tallyVotes()
    }

    /// Acts on the votes so far; returns whether the election is decided.
    @discardableResult
    mutating func tallyVotes() -> Bool {
        let voters = self.configuration.voters
        let granted = self.votes.filter { $0.value && voters.contains($0.key) }.count
        let rejected = self.votes.filter { !$0.value && voters.contains($0.key) }.count
        if granted >= self.configuration.quorum {
            if self.role == .preCandidate {
                self.becomeCandidate(isTransfer: false)
            } else {
                self.becomeLeader()
            }
            return true
        }
        if rejected > voters.count - self.configuration.quorum {
            self.becomeFollower(term: self.term, leader: nil)
            return true
        }
        return false
    }

    mutating func becomeLeader() {
        self.role = .leader
        self.leader = self.id
        self.resetRoleState()
        for peer in self.configuration.members where peer != self.id {
            self.progress[peer] = Progress(
                next: self.log.lastIndex + 1, maxInflight: self.options.maxInflightMessages, maxInflightBytes: self.options.maxInflightBytes)
        }
        // A new leader commits an entry of its own term to learn the commit index (§5.4.2, §8).
        self.appendEntry(.noop)
    }

    /// Clears everything that belongs to one role in one term.
    mutating func resetRoleState() {
        self.electionElapsed = 0
        self.heartbeatElapsed = 0
        self.resetRandomizedElectionTimeout()
        self.votes = [:]
        self.progress = [:]
        self.leadTransferee = nil
        self.leaseRevoked = false
        self.readRound = 0
        self.readRoundPending = false
        self.broadcastPending = false
        self.commitAdvanced = false
        self.pendingReads = []
        self.readsAwaitingCommit = []
    }
}
