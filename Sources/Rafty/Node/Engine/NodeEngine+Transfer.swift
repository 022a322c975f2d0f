import Logging
import RaftCore

extension NodeEngine {
    /// Starts a leadership transfer on the leader (followers redirect the caller to it).
    mutating func transferLeadership(to requested: NodeID?, request: RequestID, deadline: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        guard !self.stopping, self.core.role == .leader else {
            actions.append(.answer(request, self.redirect()))
            return
        }
        guard let target = requested ?? self.mostUpToDateVoter() else {
            actions.append(.answer(request, .failure(RaftError(.rejected, "there is no other voter to hand leadership to"))))
            return
        }
        if target == self.id {
            actions.append(.answer(request, .transferred(to: self.id)))
            return
        }
        do {
            try self.core.transferLeadership(to: target)
            self.transfers.append((target, deadline, request))
            self.logger.info("transferring leadership", metadata: ["raft.target": "\(target)"])
        } catch {
            actions.append(.answer(request, .failure(RaftError(.rejected, error.message))))
        }
    }

    /// The voter (other than this leader) with the highest match index; ties go to the lower id.
    func mostUpToDateVoter() -> NodeID? {
        self.core.status.matchIndex
            .filter { $0.key != self.id && self.core.configuration.voters.contains($0.key) }
            .max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// Answers transfer callers: success once the target leads, rejection when the core abandoned
    /// the transfer (the target did not take over within an election timeout), timeout at the deadline.
    mutating func settleTransfers(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        guard !self.transfers.isEmpty else { return }
        var waiting: [(target: NodeID, deadline: ContinuousClock.Instant, request: RequestID)] = []
        for transfer in self.transfers {
            if self.core.leader == transfer.target {
                actions.append(.answer(transfer.request, .transferred(to: transfer.target)))
            } else if self.core.role == .leader, self.core.transferTarget != transfer.target {
                actions.append(
                    .answer(
                        transfer.request,
                        .failure(
                            RaftError(
                                .rejected, "node \(transfer.target) did not take over within an election timeout; leadership stays"))))
            } else if transfer.deadline <= now {
                actions.append(.answer(transfer.request, .failure(RaftError(.timedOut, "the leadership transfer did not finish before the deadline"))))
            } else {
                waiting.append(transfer)
            }
        }
        self.transfers = waiting
    }
}
