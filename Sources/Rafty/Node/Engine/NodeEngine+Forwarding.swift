import CoreMetrics
import Metrics
import RaftCore

/// Commands a follower sent the leader in one batch, waiting to learn their indices.
struct ForwardedBatch {
    var leader: NodeID
    var sent: ContinuousClock.Instant
    var proposals: [PendingProposal]
}

/// Followers forward their clients' commands to the leader over the peer stream, all commands of
/// one loop iteration in one message; the leader answers where it appended them, and the follower
/// answers its callers when it applies those indices itself (with its own state machine's results,
/// as etcd does). The contract stays that of a leader: success once applied, `timedOut` when the
/// outcome is unknown, every other error "not applied".
extension NodeEngine {
    /// A command a follower (or read-only node) received: queued for the batch sent at the end of
    /// this call, or refused at once when there is no leader to send it to or too much waits.
    mutating func forwardProposal(
        _ command: [UInt8], request: RequestID, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant,
        into actions: inout [NodeAction]
    ) {
        guard !self.stopping, let leader = self.core.leader, leader != self.id, self.addresses[leader] != nil else {
            actions.append(.answer(request, self.redirect()))
            return
        }
        // Few batches are outstanding at a time (about one per loop iteration in flight): counting is cheap.
        let awaitingIndex = self.forwardsAwaitingIndex.values.reduce(0) { $0 + $1.proposals.count }
        let waiting = self.outgoingForwards.count + awaitingIndex + self.proposals.count
        guard waiting < self.configuration.maxUnappliedEntries else {
            self.metrics.overloaded.increment()
            actions.append(
                .answer(
                    request,
                    .failure(
                        RaftError(
                            .overloaded,
                            "\(waiting) forwarded commands wait (maxUnappliedEntries \(self.configuration.maxUnappliedEntries)); not applied, retry later"))))
            return
        }
        let proposal = PendingProposal(term: 0, deadline: deadline, started: now, request: request, forwarded: true)
        self.outgoingForwards.append((command, proposal))
    }

    /// The largest batch of forwarded commands in one message (a single larger command goes alone;
    /// values are limited below the transport's message size).
    static var forwardBatchBytes: Int { 4 << 20 }

    /// Sends the commands queued during this call to the leader.
    mutating func flushForwards(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        guard !self.outgoingForwards.isEmpty else { return }
        let queued = self.outgoingForwards
        self.outgoingForwards = []
        guard !self.stopping, self.core.role != .leader, let leader = self.core.leader, leader != self.id else {
            // The leadership changed while the batch was gathered (ticks, messages): not sent.
            let answer: RaftNode.Answer =
                self.core.role == .leader
                ? .failure(RaftError(.noLeader, "this node became the leader; the command was not applied, retry"))
                : self.redirect()
            for (_, proposal) in queued { actions.append(.answer(proposal.request, answer)) }
            return
        }
        var start = 0
        while start < queued.count {
            var end = start
            var bytes = 0
            while end < queued.count,
                end == start
                    || (end - start < self.configuration.maxAppendEntries && bytes + queued[end].command.count <= Self.forwardBatchBytes)
            {
                bytes += queued[end].command.count
                end += 1
            }
            let context = self.nextForwardContext
            self.nextForwardContext += 1
            let batch = queued[start..<end]
            self.forwardsAwaitingIndex[context] = ForwardedBatch(leader: leader, sent: now, proposals: batch.map(\.proposal))
            self.metrics.forwardedProposals.increment(by: batch.count)
            let body = Message.Body.forwardedProposals(ForwardedProposals(context: context, commands: batch.map(\.command)))
            self.send(Message(from: self.id, to: leader, term: self.core.term, body: body), into: &actions)
            start = end
        }
    }

    /// On the leader: appends a follower's commands (as its own proposals, with the same
    /// backpressure) and tells it where they went. Sent before the appends that carry them, on
    /// the same stream, so the follower usually knows the index before it applies it.
    mutating func acceptForwarded(_ batch: ForwardedProposals, from follower: NodeID, into actions: inout [NodeAction]) {
        var response = ForwardedProposalsResponse(context: batch.context, firstIndex: 0, term: self.core.term, accepted: 0, refusal: nil)
        if self.stopping || self.core.role != .leader {
            response.refusal = batch.commands.isEmpty ? nil : .notLeader
        } else {
            for command in batch.commands {
                if self.proposalOverload(adding: command.count) != nil {
                    self.metrics.overloaded.increment()
                    response.refusal = .overloaded
                    break
                }
                do {
                    let (index, term) = try self.core.propose(command)
                    if response.accepted == 0 {
                        response.firstIndex = index
                        response.term = term
                    }
                    response.accepted += 1
                    self.proposed(command, at: index)
                } catch {
                    response.refusal = error.code == .notLeader || error.code == .transferInProgress ? .notLeader : .rejected
                    break
                }
            }
        }
        if response.accepted > 0 { self.core.peerWaitsForCommit(follower, through: response.firstIndex + UInt64(response.accepted) - 1) }
        let message = Message(from: self.id, to: follower, term: self.core.term, body: .forwardedProposalsResponse(response))
        self.send(message, into: &actions)
    }

    /// On the follower: the leader's answer. Accepted commands wait for their index to apply (or
    /// are answered at once from `recentResults` if it already did); refused ones fail now.
    mutating func forwardAnswered(_ response: ForwardedProposalsResponse, from sender: NodeID, into actions: inout [NodeAction]) {
        guard let batch = self.forwardsAwaitingIndex[response.context], batch.leader == sender else { return }
        self.forwardsAwaitingIndex[response.context] = nil
        let accepted = response.firstIndex == 0 ? 0 : min(max(response.accepted, 0), batch.proposals.count)
        for (offset, var proposal) in batch.proposals.enumerated() {
            guard offset < accepted else {
                let error =
                    switch response.refusal {
                    case .overloaded?: RaftError(.overloaded, "the leader is overloaded; the command was not applied, retry later")
                    case .rejected?: RaftError(.rejected, "the leader rejected the command; it was not applied")
                    default: RaftError(.noLeader, "node \(sender) is no longer the leader; the command was not applied", leader: self.core.leader)
                    }
                actions.append(.answer(proposal.request, .failure(error)))
                continue
            }
            let index = response.firstIndex + UInt64(offset)
            proposal.term = response.term
            if index > self.applied {
                self.proposals[index, default: []].append(proposal)
            } else if let known = self.recentResults[index] {
                actions.append(
                    .answer(
                        proposal.request,
                        known.term == response.term
                            ? .success(known.result)
                            : .failure(RaftError(.noLeader, "leadership changed; the command was not applied"))))
            } else {
                actions.append(.answer(proposal.request, .failure(RaftError(.timedOut, "the command may or may not be applied"))))
            }
        }
        if self.forwardsAwaitingIndex.isEmpty { self.recentResults = [:] }
    }

    /// While answers are outstanding, remembers what each applied entry returned: the answer may
    /// arrive after the entry applied (the leader's appends and its answer may take different paths).
    mutating func rememberResults(_ entries: [Entry], results: [UInt64: [UInt8]]) {
        guard !self.forwardsAwaitingIndex.isEmpty else { return }
        if self.recentResults.count + entries.count > self.configuration.maxUnappliedEntries { self.recentResults = [:] }
        for entry in entries { self.recentResults[entry.index] = (entry.term, results[entry.index] ?? []) }
    }

    /// Batches whose answer did not come within an election timeout (a connection dropped, the
    /// leader changed) or whose callers' deadlines passed: the leader may have appended them.
    mutating func expireForwards(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        let unknown = RaftError(.timedOut, "the leader did not say where it put the command; it may or may not be applied")
        for context in self.forwardsAwaitingIndex.keys.sorted() {
            var batch = self.forwardsAwaitingIndex[context]!
            let patienceOver = now - batch.sent > self.electionTimeout
            let (expired, waiting) = batch.proposals.partitioned { patienceOver || $0.deadline <= now }
            guard !expired.isEmpty else { continue }
            for proposal in expired { actions.append(.answer(proposal.request, .failure(unknown))) }
            batch.proposals = waiting
            self.forwardsAwaitingIndex[context] = waiting.isEmpty ? nil : batch
        }
        if self.forwardsAwaitingIndex.isEmpty { self.recentResults = [:] }
    }

    /// Everything forwarded is answered "unknown" as the node stops or fails.
    mutating func failForwards(_ error: RaftError, into actions: inout [NodeAction]) {
        let unknown = RaftError(.timedOut, "\(error.message); the command may or may not be applied")
        for context in self.forwardsAwaitingIndex.keys.sorted() {
            for proposal in self.forwardsAwaitingIndex[context]!.proposals { actions.append(.answer(proposal.request, .failure(unknown))) }
        }
        for (_, proposal) in self.outgoingForwards { actions.append(.answer(proposal.request, .failure(error))) }
        self.forwardsAwaitingIndex = [:]
        self.outgoingForwards = []
        self.recentResults = [:]
    }
}
