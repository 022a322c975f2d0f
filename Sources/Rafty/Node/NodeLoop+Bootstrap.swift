import Logging
import RaftCore

extension NodeLoop {
    /// Installs a configuration of this node alone, once, on a node that waits for a bootstrap; it
    /// then leads at once. Answers with the peers to add (`id=address=voter|learner` per line).
    mutating func bootstrap(_ continuation: Waiter) async throws {
        let configuration = self.node.configuration
        guard configuration.waitForBootstrap else {
            continuation.resume(returning: .failure(RaftError(.rejected, "node \(configuration.id) was not started to wait for a bootstrap")))
            return
        }
        guard let core = self.core, core.configuration.members.isEmpty, core.lastIndex == 0, core.leader == nil else {
            continuation.resume(returning: .failure(RaftError(.rejected, "the cluster is already bootstrapped")))
            return
        }
        guard self.addresses.count == self.node.peerAddresses.count else {
            let missing = self.node.peerAddresses.filter { !self.addresses.values.contains($0) }
            continuation.resume(
                returning: .failure(RaftError(.unreachable, "the ids of these peers are not known yet: \(missing.joined(separator: ", ")); not bootstrapped")))
            return
        }
        let membership = ClusterConfiguration(voters: [configuration.id], addresses: [configuration.id: self.node.address])
        do {
            try self.storage.stable.save(StableState(nodeID: configuration.id, hardState: self.storage.stable.state.hardState, configuration: membership))
        } catch {
            throw RaftError(.storage, "cannot persist the bootstrap configuration: \(error)")
        }
        self.core = nil
        try await self.startCore(membership: membership)  // a single voter campaigns at once
        self.logger.info("bootstrapped a cluster of this node; adding its peers")
        let peers = self.addresses.sorted { $0.key < $1.key }.map { id, address in
            "\(id)=\(address)=\(self.learners.contains(id) ? "learner" : "voter")"
        }
        continuation.resume(returning: .success(Array(peers.joined(separator: "\n").utf8)))
    }
}
