import Logging
import RaftCore

extension NodeLoop {
    /// Starts a leadership transfer on the leader (followers redirect the caller to it).
    mutating func transferLeadership(to requested: NodeID?, deadline: ContinuousClock.Instant, _ continuation: Waiter) {
        guard !self.stopping, var core = self.core, core.role == .leader else {
            continuation.resume(returning: self.redirect())
            return
        }
        let id = self.node.configuration.id
        let target = requested ?? self.mostUpToDateVoter(of: core)
        guard let target else {
            continuation.resume(returning: .failure(RaftError(.rejected, "there is no other voter to hand leadership to")))
            return
        }
        if target == id {
            continuation.resume(returning: .success(Array(String(id).utf8)))
            return
        }
        do {
            try core.transferLeadership(to: target)
            self.core = core
            self.transfers.append((target, deadline, continuation))
            self.logger.debug("transferring leadership", metadata: ["raft.target": "\(target)"])
        } catch {
            continuation.resume(returning: .failure(RaftError(.rejected, error.message)))
        }
    }

    /// The voter (other than this leader) with the highest match index; ties go to the lower id.
    func mostUpToDateVoter(of core: RawNode) -> NodeID? {
        let id = self.node.configuration.id
        return core.status.matchIndex
            .filter { $0.key != id && core.configuration.voters.contains($0.key) }
            .max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// Answers transfer callers: success once the target leads, rejection when the core abandoned
    /// the transfer (the target did not take over within an election timeout), timeout at the deadline.
    mutating func settleTransfers() {
        guard !self.transfers.isEmpty, let core = self.core else { return }
        let now = ContinuousClock.now
        var waiting: [(target: NodeID, deadline: ContinuousClock.Instant, continuation: Waiter)] = []
        for transfer in self.transfers {
            if core.leader == transfer.target {
                transfer.continuation.resume(returning: .success(Array(String(transfer.target).utf8)))
            } else if core.role == .leader, core.transferTarget != transfer.target {
                transfer.continuation.resume(
                    returning: .failure(RaftError(.rejected, "node \(transfer.target) did not take over within an election timeout; leadership stays")))
            } else if transfer.deadline <= now {
                transfer.continuation.resume(returning: .failure(RaftError(.timedOut, "the leadership transfer did not finish before the deadline")))
            } else {
                waiting.append(transfer)
            }
        }
        self.transfers = waiting
    }
}
