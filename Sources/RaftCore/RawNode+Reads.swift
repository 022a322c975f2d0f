extension RawNode {
    /// Ticks a lease lasts: the election timeout minus the drift margin.
    var leaseTicks: UInt64 { UInt64(self.options.electionTimeout - self.options.leaseDriftMargin) }

    /// Whether a majority of voters acknowledged a heartbeat sent less than a lease ago. Until that
    /// lease runs out they reject every candidate, so no other leader can exist.
    var leaseIsValid: Bool {
        guard self.role == .leader, self.options.checkQuorum, !self.leaseRevoked, self.leadTransferee == nil else {
            return false
        }
        let voters = self.configuration.sortedVoters
        guard !voters.isEmpty else { return false }
        let ticks = voters.map { $0 == self.id ? self.tickCount : (self.progress[$0]?.ackedSentTick ?? 0) }
            .sorted(by: >)
        let acked = voters.filter { $0 == self.id || self.progress[$0]?.ackedSentTick != nil }.count
        guard acked >= self.configuration.quorum else { return false }
        return self.tickCount < ticks[self.configuration.quorum - 1] + self.leaseTicks
    }

    mutating func handleReadRequest(context: UInt64, from requester: NodeID, lease: Bool) {
        // Until this leader commits an entry of its term it does not know the true commit index.
        guard self.log.term(at: self.log.committed) == self.term else {
            self.readsAwaitingCommit.append(PendingRead(context: context, from: requester, index: 0, round: 0))
            return
        }
        if self.configuration.voters == [self.id] || (lease && self.leaseIsValid) {
            self.answerRead(context: context, to: requester, index: self.log.committed)
            return
        }
        // Confirm leadership with a heartbeat round; reads that arrive before the next Ready share it.
        self.readRoundPending = true
        self.pendingReads.append(
            PendingRead(context: context, from: requester, index: self.log.committed, round: self.readRound + 1))
    }

    mutating func answerRead(context: UInt64, to requester: NodeID, index: UInt64) {
        if requester == self.id {
            self.readStates.append(ReadState(context: context, index: index))
        } else {
            self.send(to: requester, .readIndexResponse(context: context, index: index))
            self.peerWaitsForCommit(requester, through: index)
        }
    }

    /// Answers pending reads whose round a majority of voters has acknowledged.
    mutating func releaseConfirmedReads() {
        guard !self.pendingReads.isEmpty else { return }
        let voters = self.configuration.sortedVoters
        guard !voters.isEmpty else { return }
        let rounds = voters.map { $0 == self.id ? UInt64.max : (self.progress[$0]?.ackedRound ?? 0) }.sorted(by: >)
        let confirmed = rounds[self.configuration.quorum - 1]
        var remaining: [PendingRead] = []
        for read in self.pendingReads {
            if read.round <= confirmed {
                self.answerRead(context: read.context, to: read.from, index: read.index)
            } else {
                remaining.append(read)
            }
        }
        self.pendingReads = remaining
    }
}
