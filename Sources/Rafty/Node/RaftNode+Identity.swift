import Logging
import RaftCore
import Synchronization

extension RaftNode {
    /// Learns the data-directory incarnation of every member soon after it appears, by asking it
    /// (AskNodeID), instead of waiting for a message from it: followers rarely message each other,
    /// and a member whose data was wiped must be recognised by every node that could count its
    /// vote, not only by the leader (see ``NodeIdentity``).
    func learnPeerIdentities() async {
        while !Task.isCancelled {
            try? await self.configuration.clock.sleep(for: self.configuration.electionTimeout)
            guard let store = self.identityStore.withLock({ $0 }) else { continue }
            let known = store.identity.peerIncarnations
            let status = self.status
            for (member, address) in status.members.compactMap({ member in member.address.map { (member.id, $0) } })
            where member != status.id && known[member] == nil && !Task.isCancelled {
                guard let info = try? await self.transport.askNodeID(at: address), info.id == member, info.credentials.incarnation != 0 else {
                    continue
                }
                if let refusal = self.admit(member, presenting: info.credentials) {
                    self.configuration.logger.warning("peer \(member) at \(address) is refused: \(refusal)")
                }
            }
        }
    }
}
