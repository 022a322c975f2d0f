import Logging
import RaftCore

/// A membership change the leader is carrying out, one configuration entry at a time.
struct MembershipOperation {
    enum Step {
        /// Propose this change and wait until it commits.
        case propose(ConfigurationChange)
        /// Wait until the node has caught up with the log (rounds that finish within an election timeout).
        case catchUp(NodeID)
        /// Refuse if the voters left after removing this one could not form a quorum.
        case checkQuorum(without: NodeID)
        /// The change is about the leader itself: hand leadership over, then forward the change.
        case handOff
    }

    var change: MembershipChange
    var steps: [Step]
    var deadline: ContinuousClock.Instant
    var request: RequestID
    /// The configuration entry being waited for.
    var awaiting: (index: UInt64, term: UInt64)?
    /// Index of the last configuration entry that committed.
    var lastIndex: UInt64 = 0
    /// Whether an entry of this operation committed (so a failure leaves part of it done).
    var committedAny = false
    var catchUpStarted: ContinuousClock.Instant?
    /// When the quorum check first found too few voters reachable.
    var quorumCheckStarted: ContinuousClock.Instant?
    var round: (target: UInt64, started: ContinuousClock.Instant)?
    var handOffTarget: NodeID?
}

extension NodeEngine {
    /// Starts a membership change on the leader; followers redirect the caller to it.
    mutating func changeMembership(
        _ change: MembershipChange, request: RequestID, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant,
        into actions: inout [NodeAction]
    ) {
        guard !self.stopping, self.core.role == .leader else {
            actions.append(.answer(request, self.redirect()))
            return
        }
        guard self.membershipOperation == nil else {
            actions.append(
                .answer(
                    request,
                    .failure(
                        RaftError(
                            .membershipChangeInProgress, "a membership change (\(self.membershipOperation!.change)) is in progress; retry after it finishes"))))
            return
        }
        let id = self.id
        let configuration = self.core.configuration
        func refuse(_ message: String) {
            actions.append(.answer(request, .failure(RaftError(.rejected, message))))
        }
        let steps: [MembershipOperation.Step]
        switch change {
        case .add(let member, let address, let asVoter):
            guard member != 0 else { return refuse("node id 0 is reserved") }
            guard !configuration.contains(member) else { return refuse("node \(member) is already a member") }
            let normalized: String
            do {
                normalized = try RaftNode.Configuration.normalize(address: address, field: "address")
            } catch {
                return refuse(error.message)
            }
            steps =
                [.propose(ConfigurationChange(.addLearner, node: member, address: normalized))]
                + (asVoter ? [.catchUp(member), .propose(ConfigurationChange(.promote, node: member))] : [])
        case .promote(let member):
            guard configuration.learners.contains(member) else { return refuse("node \(member) is not a read-only member") }
            steps = [.catchUp(member), .propose(ConfigurationChange(.promote, node: member))]
        case .demote(let member):
            guard configuration.voters.contains(member) else { return refuse("node \(member) is not a voter") }
            steps =
                member == id
                ? [.handOff]
                : [.checkQuorum(without: member), .propose(ConfigurationChange(.demote, node: member))]
        case .remove(let member):
            guard configuration.contains(member) else { return refuse("node \(member) is not a member") }
            if member == id {
                steps = [.handOff]
            } else if configuration.voters.contains(member) {
                steps = [
                    .checkQuorum(without: member), .propose(ConfigurationChange(.demote, node: member)),
                    .propose(ConfigurationChange(.remove, node: member)),
                ]
            } else {
                steps = [.propose(ConfigurationChange(.remove, node: member))]
            }
        }
        self.membershipOperation = MembershipOperation(change: change, steps: steps, deadline: deadline, request: request)
        self.logger.info("membership change started", metadata: ["raft.change": "\(change)"])
        self.advanceMembership(now: now, into: &actions)
    }

    /// Moves the operation in progress forward; called after every Ready and tick.
    mutating func advanceMembership(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        guard var operation = self.membershipOperation else { return }
        defer { if self.membershipOperation != nil { self.membershipOperation = operation } }
        func finish(_ answer: RaftNode.Answer) {
            actions.append(.answer(operation.request, answer))
            self.membershipOperation = nil
            let outcome =
                switch answer {
                case .changed(let index): "done at index \(index)"
                case .success, .transferred, .bootstrapped: "done"
                case .failure(let error): "\(error)"
                case .forward(let address): "continues on the new leader at \(address)"
                }
            self.logger.info("membership change finished", metadata: ["raft.change": "\(operation.change)", "raft.outcome": "\(outcome)"])
        }
        func fail(_ code: RaftError.Code, _ message: String) {
            let done = operation.committedAny ? " (earlier steps of it were applied)" : ""
            finish(.failure(RaftError(code, message + done)))
        }

        if case .handOff? = operation.steps.first {
            if let target = operation.handOffTarget {
                if self.core.leader == target, self.core.role != .leader, let address = self.addresses[target] {
                    return finish(.forward(to: address))  // the caller re-sends the change to the new leader
                }
                if self.core.role == .leader, self.core.transferTarget == nil {
                    return fail(.rejected, "node \(target) did not take over leadership; change \(operation.change) not applied")
                }
            } else if self.core.role == .leader {
                guard let target = self.mostUpToDateVoter() else {
                    return fail(.rejected, "node \(self.id) is the last voter; it cannot be \(operation.change)")
                }
                do {
                    try self.core.transferLeadership(to: target)
                } catch {
                    return fail(.rejected, "cannot hand leadership to node \(target): \(error.message)")
                }
                operation.handOffTarget = target
            }
            if now >= operation.deadline { fail(.timedOut, "leadership was not handed over before the deadline; change not applied") }
            return
        }

        guard self.core.role == .leader else {
            if operation.awaiting != nil {
                return fail(.timedOut, "leadership was lost; the change \(operation.change) may or may not be applied")
            }
            return fail(.noLeader, "leadership was lost; the change \(operation.change) was not applied")
        }
        if let awaiting = operation.awaiting {
            guard self.core.commitIndex >= awaiting.index else {
                if now >= operation.deadline { fail(.timedOut, "the change \(operation.change) did not commit before the deadline; its outcome is unknown") }
                return
            }
            operation.awaiting = nil
            operation.lastIndex = awaiting.index
            operation.committedAny = true
        }
        while let step = operation.steps.first {
            switch step {
            case .propose(var change):
                if change.kind == .promote, self.core.configuration.incarnations[change.node] == nil {
                    // Every node refuses the voter's vote and acks from then on if its data is replaced.
                    change.incarnation = self.incarnations[change.node]
                }
                do {
                    let (index, term) = try self.core.proposeConfigurationChange(change)
                    operation.awaiting = (index, term)
                    operation.steps.removeFirst()
                } catch  where error.code == .configurationChangeInProgress {
                    // A new leader first commits an entry of its term; try again on the next tick.
                    if now >= operation.deadline { fail(.timedOut, "the change \(operation.change) could not start before the deadline; not applied") }
                } catch {
                    fail(.rejected, "\(operation.change) refused: \(error.message)")
                }
                return
            case .catchUp(let member):
                let match = self.core.status.matchIndex[member] ?? 0
                let started = operation.catchUpStarted ?? now
                operation.catchUpStarted = started
                if let round = operation.round, match >= round.target {
                    if now - round.started <= self.electionTimeout {
                        operation.steps.removeFirst()
                        continue
                    }
                    operation.round = nil  // caught up, but slowly: one more round
                }
                if operation.round == nil { operation.round = (self.core.lastIndex, now) }
                if now - started >= self.configuration.memberCatchUpTimeout {
                    return fail(
                        .tooSlow,
                        "node \(member) did not catch up within \(self.configuration.memberCatchUpTimeout) (it has \(match) of \(self.core.lastIndex) entries); it stays a read-only member"
                    )
                }
                if now >= operation.deadline {
                    return fail(.timedOut, "node \(member) had not caught up by the deadline; it stays a read-only member")
                }
                return
            case .checkQuorum(let member):
                let remaining = self.core.configuration.voters.subtracting([member])
                let reachable = remaining.filter { $0 == self.id || self.recentlyHeard($0, now: now) }
                let quorum = remaining.count / 2 + 1
                if !remaining.isEmpty, reachable.count < quorum {
                    // A leader that just took over (a removal redirected to it after a hand-off)
                    // has not heard from every peer yet: its heartbeats get an election timeout
                    // to be answered before it refuses.
                    let started = operation.quorumCheckStarted ?? now
                    operation.quorumCheckStarted = started
                    if now - started < self.electionTimeout { return }
                }
                guard !remaining.isEmpty, reachable.count >= quorum else {
                    return fail(
                        .rejected,
                        "removing voter \(member) would leave \(remaining.count) voters of which \(reachable.count) are reachable, fewer than the \(quorum) a quorum needs; not applied"
                    )
                }
                operation.steps.removeFirst()
            case .handOff:
                return  // only ever the first step, handled above
            }
        }
        finish(.changed(configurationIndex: operation.lastIndex))
    }

    /// Whether the leader heard from `peer` within two election timeouts.
    func recentlyHeard(_ peer: NodeID, now: ContinuousClock.Instant) -> Bool {
        guard let heard = self.lastHeard[peer] else { return false }
        return now - heard <= self.electionTimeout * 2
    }
}
