public import RaftCore

extension RaftNode {
    /// Forms the cluster on a node started with ``StartMode/awaitBootstrap``:
    /// it becomes the leader of a cluster of itself, then adds every peer of its configuration as a
    /// voter, one at a time. Call it on exactly one node; a second call (on any node) is rejected
    /// once the first took effect.
    ///
    /// - Returns: the members' ids.
    /// - Throws: ``RaftError/Code/rejected`` if the cluster is already bootstrapped;
    ///   ``RaftError/Code/unreachable`` if some peer's id is not known yet (not bootstrapped);
    ///   errors of ``addMember(id:address:asVoter:timeout:)`` for a peer that could not be added.
    @discardableResult
    public func bootstrap(timeout: Duration = .seconds(60)) async throws(RaftError) -> [NodeID] {
        let deadline = self.configuration.clock.now + timeout
        // A peer that follows a leader means the cluster exists already.
        for address in self.peerAddresses {
            if let leader = try? await self.transport.leader(at: address) {
                throw RaftError(.rejected, "the cluster is already bootstrapped: node \(leader.id) at \(leader.address) leads")
            }
        }
        let answer = await withCheckedContinuation { continuation in
            self.enqueue(.bootstrap(continuation))
        }
        let peers: [BootstrapPeer]
        switch answer {
        case .bootstrapped(let answered):
            peers = answered
        case .failure(let error):
            throw error
        case .forward:
            throw RaftError(.rejected, "the cluster is already bootstrapped")
        case .success, .transferred, .changed:
            throw RaftError(.rejected, "the bootstrap was answered as another request")
        }
        while self.status.state != .leader {
            guard self.configuration.clock.now < deadline else { throw RaftError(.timedOut, "bootstrap: this node did not become the leader") }
            try? await Task.sleep(for: self.configuration.tick)
        }
        for peer in peers {
            let remaining = deadline - self.configuration.clock.now
            guard remaining > .zero else { throw RaftError(.timedOut, "bootstrap: node \(peer.id) was not added before the deadline") }
            try await self.addMember(id: peer.id, address: peer.address, asVoter: peer.isVoter, timeout: remaining)
        }
        return [self.configuration.id] + peers.map(\.id)
    }
}
