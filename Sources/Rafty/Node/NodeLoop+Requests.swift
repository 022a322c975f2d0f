import CoreMetrics
import Logging
import Metrics
import RaftCore

extension NodeLoop {
    typealias Waiter = CheckedContinuation<RaftNode.Answer, Never>

    /// Where to send a request this node cannot serve: the leader's address, or an error.
    func redirect() -> RaftNode.Answer {
        if self.stopping { return .failure(RaftError(.shuttingDown, "node \(self.node.configuration.id) is stopping")) }
        guard let leader = self.core?.leader, leader != self.node.configuration.id else {
            return .failure(RaftError(.noLeader, "no leader is known; the request was not applied"))
        }
        guard let address = self.addresses[leader] else {
            return .failure(RaftError(.noLeader, "the address of leader \(leader) is not known yet; the request was not applied", leader: leader))
        }
        return .forward(to: address)
    }

    mutating func propose(_ command: [UInt8], deadline: ContinuousClock.Instant, _ continuation: Waiter) {
        guard !self.stopping, self.core?.role == .leader else {
            continuation.resume(returning: self.redirect())
            return
        }
        do {
            // In place: a copy of the core would copy its whole in-memory log on the append.
            let (index, term) = try self.core!.propose(command)
            self.proposals[index, default: []].append(
                PendingProposal(term: term, deadline: deadline, started: .now, continuation: continuation))
            self.metrics.proposals.increment()
        } catch {
            if error.code == .notLeader {
                continuation.resume(returning: self.redirect())
            } else {
                continuation.resume(returning: .failure(RaftError(.rejected, error.message)))
            }
        }
    }

    mutating func read(_ query: [UInt8], consistency: RaftNode.ReadConsistency, deadline: ContinuousClock.Instant, _ continuation: Waiter) {
        guard !self.stopping, self.core?.role == .leader else {
            continuation.resume(returning: self.redirect())
            return
        }
        let context = self.nextReadContext
        self.nextReadContext += 1
        self.readsWaitingForIndex[context] = (query, deadline, continuation)
        self.core!.readIndex(context: context, lease: consistency == .lease)
    }

    /// Requests past their deadline get ``RaftError/Code/timedOut`` (outcome unknown).
    mutating func expireWaiters() {
        let now = ContinuousClock.now
        for index in self.proposals.keys.sorted() {
            let (expired, waiting) = self.proposals[index]!.partitioned { $0.deadline <= now }
            for proposal in expired {
                proposal.continuation.resume(
                    returning: .failure(RaftError(.timedOut, "timed out; the command may or may not be applied")))
            }
            self.proposals[index] = waiting.isEmpty ? nil : waiting
        }
        for (context, read) in self.readsWaitingForIndex where read.deadline <= now {
            read.continuation.resume(returning: .failure(RaftError(.timedOut, "the read timed out")))
            self.readsWaitingForIndex[context] = nil
        }
        let (expiredReads, waitingReads) = self.readsWaitingForApply.partitioned { $0.deadline <= now }
        for read in expiredReads { read.continuation.resume(returning: .failure(RaftError(.timedOut, "the read timed out"))) }
        self.readsWaitingForApply = waitingReads
    }

    /// A leader hands leadership to the most up-to-date voter before stopping.
    mutating func beginStop() {
        self.stopping = true
        self.stopDeadline = .now + self.node.configuration.electionTimeout * 2
        guard var core = self.core, core.role == .leader else { return }
        if let target = self.mostUpToDateVoter(of: core) {
            try? core.transferLeadership(to: target)
            self.logger.debug("stopping: transferring leadership", metadata: ["raft.target": "\(target)"])
        }
        self.core = core
    }
}

extension Array {
    /// Splits into the elements that match and those that do not, keeping order.
    func partitioned(_ matches: (Element) -> Bool) -> (matching: [Element], rest: [Element]) {
        var matching: [Element] = []
        var rest: [Element] = []
        for element in self {
            if matches(element) { matching.append(element) } else { rest.append(element) }
        }
        return (matching, rest)
    }
}
