extension RawNode {
    // MARK: - Leader: proposing

    func checkCanPropose() throws(RaftCoreError) {
        guard self.role == .leader else {
            throw RaftCoreError(.notLeader, "this node is not the leader", leader: self.leader)
        }
        guard self.leadTransferee == nil else {
            throw RaftCoreError(.transferInProgress, "leadership is being transferred to node \(self.leadTransferee!)")
        }
    }

    @discardableResult
    mutating func appendEntry(_ payload: Entry.Payload) -> (index: UInt64, term: UInt64) {
        let entry = Entry(term: self.term, index: self.log.lastIndex + 1, payload: payload)
        self.log.append([entry])
        if case .configuration = payload { self.refreshConfiguration() }
        // One append per follower for all the entries proposed before the next Ready.
        self.broadcastPending = true
        return (entry.index, entry.term)
    }

    /// Re-reads the active configuration from the log (it takes effect when appended) and, on a
    /// leader, starts or stops tracking members.
    mutating func refreshConfiguration() {
        self.configurationIndex = self.log.lastConfigurationIndex
        self.configuration = self.log.configuration(at: self.log.lastIndex)
        if self.role == .leader {
            let members = Set(self.configuration.members).subtracting([self.id])
            for peer in self.progress.keys where !members.contains(peer) { self.progress[peer] = nil }
            for peer in members.sorted() where self.progress[peer] == nil {
                self.progress[peer] = Progress(
                    next: self.log.lastIndex + 1, maxInflight: self.options.maxInflightMessages, maxInflightBytes: self.options.maxInflightBytes)
            }
            if let target = self.leadTransferee, !self.configuration.voters.contains(target) { self.leadTransferee = nil }
        } else if self.role != .follower && !self.mayCampaign {
            self.becomeFollower(term: self.term, leader: nil)
        }
    }

    // MARK: - Leader: sending

    mutating func broadcastAppend() {
        for peer in self.progress.keys.sorted() { self.sendAppend(to: peer) }
    }

    /// After a commit advance, with ``RawNode/Configuration/commitOnDemand``: tells the followers
    /// that wait for it (their forwarded commands or reads are now committed) and were not told yet.
    /// The others learn it from the next append or heartbeat: a commit-only append to every
    /// follower on every commit doubles the messages of a write.
    mutating func sendWantedCommits() {
        for peer in self.progress.keys.sorted() {
            guard let pr = self.progress[peer], pr.commitWanted > pr.commitSent, pr.commitSent < self.log.committed else { continue }
            self.sendAppend(to: peer)
        }
    }

    mutating func broadcastHeartbeat() {
        for peer in self.progress.keys.sorted() {
            let commit = min(self.progress[peer]!.match, self.log.committed)
            self.progress[peer]!.commitSent = max(self.progress[peer]!.commitSent, commit)
            self.send(to: peer, .heartbeat(Heartbeat(commit: commit, round: self.readRound, sentTick: self.tickCount)))
        }
    }

    /// Sends the follower what it needs next; returns whether a message went out.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard var pr = self.progress[peer], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = self.log.term(at: prevIndex) else {
            // The entries it needs were compacted away: send the snapshot instead.
            guard let snapshot = self.log.snapshot else { return false }
            pr.becomeSnapshot(snapshot.index, tick: self.tickCount)
            self.progress[peer] = pr
            self.send(to: peer, .installSnapshot(snapshot))
            return true
        }
        let entries = self.log.entries(
            from: pr.next, maxCount: self.options.maxAppendEntries, maxBytes: self.options.maxMessageBytes)
        if entries.isEmpty && !sendIfEmpty { return false }
        pr.commitSent = max(pr.commitSent, min(self.log.committed, entries.last?.index ?? prevIndex))
        switch pr.state {
        case .replicate:
            if let last = entries.last {
                pr.next = last.index + 1
                pr.addInflight(last.index, bytes: entries.reduce(0) { $0 + $1.byteSize })
            }
        case .probe:
            pr.probeSent = true
        case .snapshot:
            break
        }
        self.progress[peer] = pr
        self.send(
            to: peer,
            .append(AppendRequest(prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries, commit: self.log.committed)))
        return true
    }

    mutating func sendTimeoutNow(to peer: NodeID) {
        self.leaseRevoked = true
        self.send(to: peer, .timeoutNow)
    }

    // MARK: - Leader: responses

    mutating func handleAppendResponse(from peer: NodeID, _ response: AppendResponse) {
        guard var pr = self.progress[peer] else { return }
        if response.rejected {
            // A rejection at index 0 only carries a newer term (handled before dispatch).
            guard response.index > 0 else { return }
            // The hint lies at or below the rejected index; a larger one is bogus.
            var hint = min(response.hintIndex, response.index)
            if response.hintTerm > 0 {
                hint = self.log.findConflict(atOrBelow: hint, term: response.hintTerm).index
            }
            if pr.maybeDecrease(rejected: response.index, matchHint: hint) {
                if case .replicate = pr.state { pr.becomeProbe() }
                self.progress[peer] = pr
                self.sendAppend(to: peer)
            }
            return
        }
        guard response.index <= self.log.lastIndex else { return }  // acknowledges entries we never sent
        let wasPaused = pr.isPaused
        guard pr.maybeUpdate(response.index) else {
            self.progress[peer] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot(let pending):
            if pr.match >= pending || pr.match + 1 >= self.log.firstIndex {
                pr.becomeProbe()
                pr.becomeReplicate()
            }
        case .replicate:
            pr.freeInflights(upTo: response.index)
        }
        self.progress[peer] = pr
        if self.maybeCommit() {
            self.commitAdvanced = true
        } else if wasPaused {
            self.sendAppend(to: peer)
        }
        while self.sendAppend(to: peer, sendIfEmpty: false) {}
        if peer == self.leadTransferee, self.progress[peer]?.match == self.log.lastIndex {
            self.sendTimeoutNow(to: peer)
        }
    }

    mutating func handleHeartbeatResponse(from peer: NodeID, _ response: HeartbeatResponse) {
        guard var pr = self.progress[peer] else { return }
        pr.probeSent = false
        if case .replicate = pr.state, pr.inflightFull { pr.freeFirstInflight() }
        if case .snapshot = pr.state, self.tickCount >= pr.snapshotSentTick + UInt64(self.options.electionTimeout) {
            // The snapshot (or its answer) was probably lost: probe again, which resends it if needed.
            pr.becomeProbe()
        }
        pr.ackedRound = max(pr.ackedRound, min(response.round, self.readRound))
        if response.sentTick <= self.tickCount { pr.ackedSentTick = max(pr.ackedSentTick ?? 0, response.sentTick) }
        self.progress[peer] = pr
        if pr.match < self.log.lastIndex { self.sendAppend(to: peer) }
        self.releaseConfirmedReads()
    }

    /// Commits the highest index a majority of voters has persisted, if it is from this term (§5.4.2).
    mutating func maybeCommit() -> Bool {
        let voters = self.configuration.sortedVoters
        guard !voters.isEmpty else { return false }
        let matches = voters.map { $0 == self.id ? self.log.stableIndex : (self.progress[$0]?.match ?? 0) }
            .sorted(by: >)
        let index = matches[self.configuration.quorum - 1]
        guard index > self.log.committed, self.log.term(at: index) == self.term else { return false }
        self.log.commit(to: index)
        self.didCommit()
        return true
    }

    /// Follow-up on a commit: serve reads that waited for this term's first commit, and step down if
    /// this leader is no longer a voter once that change committed.
    mutating func didCommit() {
        guard self.role == .leader else { return }
        if self.log.term(at: self.log.committed) == self.term && !self.readsAwaitingCommit.isEmpty {
            let waiting = self.readsAwaitingCommit
            self.readsAwaitingCommit = []
            for read in waiting { self.handleReadRequest(context: read.context, from: read.from, lease: false) }
        }
        if !self.isVoter && self.configurationIndex <= self.log.committed {
            self.becomeFollower(term: self.term, leader: nil)
        }
    }

    // MARK: - Follower

    mutating func handleAppend(from leader: NodeID, _ request: AppendRequest) {
        // Reject malformed input outright: indices must follow prevLogIndex, terms must not go
        // backwards and cannot exceed the sender's term; an evicted placeholder (a host that did
        // not read it back) is not a command to store.
        var expectedIndex = request.prevLogIndex
        var previousTerm = request.prevLogTerm
        for entry in request.entries {
            guard expectedIndex < Self.maxTermOrIndex, entry.index == expectedIndex + 1, entry.term >= previousTerm,
                entry.term <= self.term
            else { return }
            if case .evictedCommand = entry.payload { return }
            expectedIndex = entry.index
            previousTerm = entry.term
        }
        if request.prevLogIndex < self.log.committed {
            self.send(to: leader, .appendResponse(AppendResponse(index: self.log.committed)))
            return
        }
        guard self.log.matchTerm(request.prevLogIndex, request.prevLogTerm) else {
            let hint = self.log.findConflict(
                atOrBelow: min(request.prevLogIndex, self.log.lastIndex), term: request.prevLogTerm)
            self.send(
                to: leader,
                .appendResponse(AppendResponse(index: request.prevLogIndex, rejected: true, hintIndex: hint.index, hintTerm: hint.term)))
            return
        }
        let lastNew = request.prevLogIndex + UInt64(request.entries.count)
        if let conflict = self.log.firstConflict(in: request.entries) {
            // A committed entry can never be replaced; a leader asking for that is broken or lying.
            guard conflict > self.log.committed else { return }
            self.log.append(Array(request.entries[Int(conflict - request.prevLogIndex - 1)...]))
            self.refreshConfiguration()
        }
        self.commit(to: min(request.commit, lastNew))
        self.send(to: leader, .appendResponse(AppendResponse(index: lastNew)))
    }

    mutating func handleHeartbeat(from leader: NodeID, _ heartbeat: Heartbeat) {
        self.commit(to: min(heartbeat.commit, self.log.lastIndex))
        self.send(to: leader, .heartbeatResponse(HeartbeatResponse(round: heartbeat.round, sentTick: heartbeat.sentTick)))
    }

    mutating func handleSnapshot(from leader: NodeID, _ metadata: SnapshotMetadata, term: UInt64) {
        guard metadata.index > 0, metadata.index <= Self.maxTermOrIndex, metadata.term > 0, metadata.term <= term,
            !metadata.configuration.voters.isEmpty
        else {
            return
        }
        if metadata.index <= self.log.committed {
            self.send(to: leader, .appendResponse(AppendResponse(index: self.log.committed)))
            return
        }
        if self.log.matchTerm(metadata.index, metadata.term) {
            // We already hold the entries the snapshot covers: just learn that they are committed.
            self.commit(to: metadata.index)
        } else {
            self.log.restore(metadata)
            self.refreshConfiguration()
        }
        self.send(to: leader, .appendResponse(AppendResponse(index: self.log.committed)))
    }

    mutating func commit(to index: UInt64) {
        if index > self.log.committed { self.log.commit(to: index) }
    }
}
