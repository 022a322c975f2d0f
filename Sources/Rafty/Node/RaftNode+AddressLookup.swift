import RaftCore
import Synchronization

extension RaftNode {
    /// Asks the known peers which leader they follow, once at a time per id, and records the
    /// address of node `id` if one of them names it (a joining node learns the leader's address so).
    func lookUpAddress(of id: NodeID, among known: [String]) {
        let first = self.lookups.withLock { $0.insert(id).inserted }
        guard first else { return }
        let candidates = Array(Set(known + self.peerAddresses)).sorted()
        Task {
            defer { _ = self.lookups.withLock { $0.remove(id) } }
            for address in candidates {
                guard let leader = try? await self.transport.leader(at: address), leader.id == id else { continue }
                self.enqueue(.learnedAddress(id: id, address: leader.address))
                return
            }
        }
    }
}
