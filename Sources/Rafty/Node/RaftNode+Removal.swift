import Logging
import RaftCore

extension RaftNode {
    /// With ``Configuration-swift.struct/shutdownOnRemove``: stops the node once it learns it was
    /// removed. A leader stops replicating to a member as soon as it appends the member's removal,
    /// so a removed node rarely sees that entry; when it stops hearing from a leader it asks the
    /// members it knows, and a leader whose committed configuration lacks it settles the question.
    func watchForRemoval() async {
        var wasMember = false
        while !Task.isCancelled {
            try? await self.configuration.clock.sleep(for: self.configuration.electionTimeout * 2)
            let status = self.status
            guard status.state != .down else { continue }
            if status.committedMembers.contains(status.id) { wasMember = true }
            guard wasMember else { continue }
            if !status.committedMembers.isEmpty, !status.committedMembers.contains(status.id) {
                self.stopBecauseRemoved("its own log says so")
                return
            }
            let silent = status.lastLeaderContact.map { self.configuration.clock.now - $0 > self.configuration.electionTimeout * 2 } ?? true
            guard silent, status.state != .leader else { continue }
            for (member, address) in status.members.compactMap({ member in member.address.map { (member.id, $0) } }) where member != status.id {
                // A leader of another cluster (a misdirected address) has no say in this one.
                let cluster = self.peerCredentials.clusterID
                guard let view = try? await self.transport.committedMembership(at: address), view.isLeader,
                    view.term >= status.term, !view.members.contains(status.id),
                    view.clusterID == cluster || view.clusterID == 0 || cluster == 0
                else { continue }
                self.stopBecauseRemoved("leader \(view.id) (term \(view.term)) no longer lists it")
                return
            }
        }
    }

    private func stopBecauseRemoved(_ reason: String) {
        self.configuration.logger.notice("removed from the cluster (\(reason)); stopping")
        Task { await self.stop() }
    }
}
