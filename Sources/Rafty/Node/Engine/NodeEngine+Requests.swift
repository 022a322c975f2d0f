import CoreMetrics
import Logging
import Metrics
import RaftCore

extension NodeEngine {
    /// Why the leader refuses a new proposal of `bytes` bytes, if it does: too many entries wait
    /// to be applied, or its own proposals not yet applied hold too many bytes. Refused proposals
    /// never reach the log, so the refusal promises "not applied".
    func proposalOverload(adding bytes: Int) -> RaftError? {
        let unapplied = self.core.lastIndex - min(self.applied, self.core.lastIndex)
        if unapplied >= UInt64(self.configuration.maxUnappliedEntries) {
            return RaftError(
                .overloaded, "\(unapplied) entries wait to be applied (maxUnappliedEntries \(self.configuration.maxUnappliedEntries)); not applied, retry later"
            )
        }
        if self.unappliedBytes > 0, self.unappliedBytes + bytes > self.configuration.maxUnappliedBytes {
            return RaftError(
                .overloaded,
                "\(self.unappliedBytes) bytes of proposals wait to be applied (maxUnappliedBytes \(self.configuration.maxUnappliedBytes)); not applied, retry later"
            )
        }
        return nil
    }

    /// Counts a command this leader appended at `index` (its own or forwarded) until it is applied.
    mutating func proposed(_ command: [UInt8], at index: UInt64) {
        self.proposalBytes[index] = command.count
        self.unappliedBytes += command.count
        self.metrics.proposals.increment()
    }

    /// Forgets the sizes of proposals through `index` (all of them by default: the leadership ended).
    mutating func releaseProposalBytes(through index: UInt64 = .max) {
        if index == .max {
            self.proposalBytes = [:]
            self.unappliedBytes = 0
            return
        }
        for (proposal, bytes) in self.proposalBytes where proposal <= index {
            self.proposalBytes[proposal] = nil
            self.unappliedBytes -= bytes
        }
    }

    /// Where to send a request this node cannot serve: the leader's address, or an error.
    func redirect() -> RaftNode.Answer {
        if self.stopping { return .failure(RaftError(.shuttingDown, "node \(self.id) is stopping")) }
        guard let leader = self.core.leader, leader != self.id else {
            return .failure(RaftError(.noLeader, "no leader is known; the request was not applied"))
        }
        guard let address = self.addresses[leader] else {
            return .failure(RaftError(.noLeader, "the address of leader \(leader) is not known yet; the request was not applied", leader: leader))
        }
        return .forward(to: address)
    }

    mutating func propose(
        _ command: [UInt8], request: RequestID, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant,
        into actions: inout [NodeAction]
    ) {
        guard !self.stopping, self.core.role == .leader else {
            self.forwardProposal(command, request: request, deadline: deadline, now: now, into: &actions)
            return
        }
        if let refusal = self.proposalOverload(adding: command.count) {
            self.metrics.overloaded.increment()
            actions.append(.answer(request, .failure(refusal)))
            return
        }
        do {
            let (index, term) = try self.core.propose(command)
            self.proposals[index, default: []].append(PendingProposal(term: term, deadline: deadline, started: now, request: request))
            self.proposed(command, at: index)
        } catch {
            actions.append(.answer(request, error.code == .notLeader ? self.redirect() : .failure(RaftError(.rejected, error.message))))
        }
    }

    /// A read on the leader confirms its leadership (or its lease); a follower or read-only member asks
    /// the leader for the read index over the peer stream (ReadIndex) and serves the read from its
    /// own state machine once applied that far: no forwarded call, and the leader's state machine
    /// is not queried. A lease read on a follower is a linearizable one (only a leader has a lease).
    mutating func read(
        _ query: [UInt8], consistency: RaftNode.ReadConsistency, request: RequestID, deadline: ContinuousClock.Instant,
        now: ContinuousClock.Instant, into actions: inout [NodeAction]
    ) {
        guard !self.stopping, self.core.role == .leader || self.core.leader != nil else {
            actions.append(.answer(request, self.redirect()))
            return
        }
        let pending = self.readsWaitingForIndex.count + self.readsWaitingForApply.count
        guard pending < self.configuration.maxPendingReads else {
            self.metrics.overloaded.increment()
            actions.append(
                .answer(
                    request,
                    .failure(
                        RaftError(
                            .overloaded, "\(pending) reads are waiting (maxPendingReads \(self.configuration.maxPendingReads)); nothing was read, retry later"))
                ))
            return
        }
        let context = self.nextReadContext
        self.nextReadContext += 1
        self.readsWaitingForIndex[context] = PendingRead(request: request, query: query, deadline: deadline, asked: now)
        if self.core.role == .leader {
            self.core.readIndex(context: context, lease: consistency == .lease)
        } else {
            self.followerReadBatch.append(context)
        }
    }

    /// A follower asks the leader one read index for all the reads of this call: one request and
    /// one answer on the stream instead of one per read (the leader confirms them in one round
    /// either way).
    mutating func flushFollowerReads() {
        guard !self.followerReadBatch.isEmpty else { return }
        let context = self.nextReadContext
        self.nextReadContext += 1
        self.readBatches[context] = self.followerReadBatch
        self.followerReadBatch = []
        self.core.readIndex(context: context)
    }

    /// Takes the reads a read-index context answers: a follower's batch, or the one read.
    mutating func takeReads(answeredBy context: UInt64) -> [UInt64] {
        self.readBatches.removeValue(forKey: context) ?? [context]
    }

    /// Reads a follower asked the leader about: when the leader changes the answer never comes,
    /// so they fail (the caller may retry; nothing was read).
    mutating func dropFollowerReads(_ reason: String, where matches: (PendingRead) -> Bool = { _ in true }, into actions: inout [NodeAction]) {
        guard self.core.role != .leader else { return }
        for context in self.readsWaitingForIndex.keys.sorted() where matches(self.readsWaitingForIndex[context]!) {
            actions.append(.answer(self.readsWaitingForIndex.removeValue(forKey: context)!.request, .failure(RaftError(.noLeader, reason))))
        }
    }

    /// Requests past their deadline get ``RaftError/Code/timedOut`` (outcome unknown).
    mutating func expireWaiters(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        for index in self.proposals.keys.sorted() {
            let (expired, waiting) = self.proposals[index]!.partitioned { $0.deadline <= now }
            for proposal in expired {
                actions.append(.answer(proposal.request, .failure(RaftError(.timedOut, "timed out; the command may or may not be applied"))))
            }
            self.proposals[index] = waiting.isEmpty ? nil : waiting
        }
        self.expireForwards(now: now, into: &actions)
        for context in self.readsWaitingForIndex.keys.sorted() where self.readsWaitingForIndex[context]!.deadline <= now {
            actions.append(.answer(self.readsWaitingForIndex.removeValue(forKey: context)!.request, .failure(RaftError(.timedOut, "the read timed out"))))
        }
        // A follower's question or the leader's answer was lost (a connection dropped) or is
        // late (a stalled leader): ask again, as etcd does, while a leader is known; the read's
        // deadline bounds it. A read index the leader confirms after the read began is as good.
        let patience = self.electionTimeout
        if self.core.role != .leader, self.core.leader != nil {
            for context in self.readsWaitingForIndex.keys.sorted() where now - self.readsWaitingForIndex[context]!.asked > patience {
                self.readsWaitingForIndex[context]!.asked = now
                self.followerReadBatch.append(context)
            }
        } else {
            self.dropFollowerReads(
                "no leader confirmed the read within an election timeout; nothing was read",
                where: { now - $0.asked > patience }, into: &actions)
        }
        if !self.readBatches.isEmpty {
            // Batches whose reads all ended (answered, expired or dropped) will not be answered.
            self.readBatches = self.readBatches.filter { $0.value.contains { self.readsWaitingForIndex[$0] != nil } }
        }
        let (expired, waiting) = self.readsWaitingForApply.partitioned { $0.deadline <= now }
        for read in expired { actions.append(.answer(read.request, .failure(RaftError(.timedOut, "the read timed out")))) }
        self.readsWaitingForApply = waiting
    }

    /// Takes members' addresses from the active configuration (which carries them), so a node that
    /// joined later can reach every member.
    mutating func learnAddresses() {
        for (member, address) in self.core.configuration.addresses where member != self.id && self.addresses[member] != address {
            self.addresses[member] = address
        }
    }

    /// Installs a configuration of this node alone, once, on a node that waits for a bootstrap; it
    /// then leads at once. Answers with the peers to add (`id=address=voter|learner` per line).
    mutating func bootstrap(request: RequestID, into actions: inout [NodeAction]) {
        guard self.configuration.startMode == .awaitBootstrap else {
            actions.append(.answer(request, .failure(RaftError(.rejected, "node \(self.id) was not started to wait for a bootstrap"))))
            return
        }
        guard self.core.configuration.members.isEmpty, self.core.lastIndex == 0, self.core.leader == nil else {
            actions.append(.answer(request, .failure(RaftError(.rejected, "the cluster is already bootstrapped"))))
            return
        }
        guard self.addresses.count == self.peerAddresses.count else {
            let missing = self.peerAddresses.filter { !self.addresses.values.contains($0) }
            actions.append(
                .answer(
                    request,
                    .failure(
                        RaftError(
                            .unreachable, "the ids of these peers are not known yet: \(missing.joined(separator: ", ")); not bootstrapped"))))
            return
        }
        let membership = ClusterConfiguration(
            voters: [self.id], addresses: [self.id: self.address], incarnations: self.incarnations.filter { $0.key == self.id })
        let state = RawNode.PersistentState(hardState: self.savedHardState, snapshot: nil, entries: [])
        do {
            self.core = try RawNode(configuration: Self.coreOptions(self.configuration, seed: self.randomSeed), membership: membership, restoring: state)
        } catch {
            actions.append(.answer(request, .failure(RaftError(.rejected, "cannot bootstrap: \(error.message)"))))
            return
        }
        actions.append(.persist([.saveStableState(StableState(nodeID: self.id, hardState: self.savedHardState, configuration: membership))]))
        self.core.campaign()  // a single voter leads at once
        self.logger.info("bootstrapped a cluster of this node; adding its peers")
        let peers = self.addresses.sorted { $0.key < $1.key }.map { id, address in
            RaftNode.BootstrapPeer(id: id, address: address, isVoter: self.peerRoles[id] ?? true)
        }
        actions.append(.answer(request, .bootstrapped(peers: peers)))
    }
}
