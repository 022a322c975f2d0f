public import RaftCore

/// Who a node is beyond its id: the cluster it belongs to and the life of its data directory,
/// plus what it learned of its peers' lives.
///
/// - The **cluster id** is derived from the cluster token and the first membership
///   (``clusterID(token:members:)``), so nodes formed together agree on it without talking; a
///   node that starts without a membership (joining, awaiting a bootstrap) adopts the id of the
///   first peer that reaches it. A node refuses messages from other clusters.
/// - The **incarnation** is a random number drawn when the data directory (or the in-memory
///   store) is created. A node whose data was wiped comes back under its old id with a new one.
/// - **Peer incarnations** come from the replicated configuration, which records each voter's
///   incarnation when the cluster forms (from discovery) and when a member is promoted (the
///   leader's knowledge of it: see ``record(_:except:)``), so every node holding the
///   configuration expects the same one, even from a member it never heard from. Members the
///   configuration records none for (learners, clusters formed by older versions) are learned
///   from their first message. A peer that presents another incarnation lost its data (its term,
///   its vote and the entries it acknowledged). It is refused — it neither votes nor counts toward
///   a commit — until the membership no longer lists it; removed and added again, it is learned
///   afresh.
public struct NodeIdentity: Sendable, Hashable {
    /// The cluster this node belongs to; 0 until it is known.
    public var clusterID: UInt64
    /// This data directory's incarnation (never 0).
    public var incarnation: UInt64
    /// The incarnation each peer presented first, by node id.
    public var peerIncarnations: [NodeID: UInt64]

    /// Creates an identity.
    public init(clusterID: UInt64 = 0, incarnation: UInt64, peerIncarnations: [NodeID: UInt64] = [:]) {
        self.clusterID = clusterID
        self.incarnation = incarnation
        self.peerIncarnations = peerIncarnations
    }

    /// A fresh identity: unknown cluster, random incarnation.
    public static func fresh<G: RandomNumberGenerator>(using generator: inout G) -> NodeIdentity {
        NodeIdentity(incarnation: UInt64.random(in: 1...UInt64.max, using: &generator))
    }

    /// The id of a cluster formed with `token` from `members` (FNV-1a over the token and the
    /// sorted ids; never 0). Not a secret: it tells clusters apart, TLS keeps outsiders out.
    public static func clusterID(token: String, members: some Sequence<NodeID>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        for byte in token.utf8 { mix(byte) }
        mix(0)
        for member in members.sorted() {
            for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: member >> UInt64(shift))) }
        }
        return hash == 0 ? 1 : hash
    }

    /// Why a peer's messages are refused.
    public enum Refusal: Sendable, Hashable, CustomStringConvertible {
        /// It belongs to another cluster (0: it knows of none).
        case otherCluster(ours: UInt64, theirs: UInt64)
        /// Its data directory is not the one this node knew: it lost its state.
        case replacedData(NodeID, known: UInt64, presented: UInt64)

        /// A sentence for logs and the refused peer.
        public var description: String {
            switch self {
            case .otherCluster(let ours, let theirs):
                let them = theirs == 0 ? "no cluster id" : "cluster id \(Self.hex(theirs))"
                return "the peer presents \(them); this node belongs to cluster \(Self.hex(ours))"
            case .replacedData(let id, let known, let presented):
                return "node \(id) presents data-directory incarnation \(Self.hex(presented)) but was \(Self.hex(known)): "
                    + "its data was lost, so it may neither vote nor acknowledge entries; remove it (`rafty members remove \(id)`) "
                    + "and add it again"
            }
        }

        static func hex(_ value: UInt64) -> String { String(value, radix: 16) }
    }

    /// Decides whether to accept messages from `peer`, which presents `clusterID` and
    /// `incarnation`; learns the cluster id or the peer's incarnation when it sees them first
    /// (the caller persists the identity when it changed).
    ///
    /// - Parameters:
    ///   - peer: the sender.
    ///   - clusterID: the cluster id it presents.
    ///   - incarnation: the incarnation of its data directory.
    ///   - learning: whether an incarnation seen for the first time is remembered. A node removed
    ///     from the membership is not learned again until a configuration lists it: its old
    ///     process, still sending, would otherwise teach the incarnation that its fresh data,
    ///     added again, is then refused for.
    public mutating func admit(_ peer: NodeID, clusterID: UInt64, incarnation: UInt64, learning: Bool = true) -> Refusal? {
        if self.clusterID == 0, clusterID != 0 {
            self.clusterID = clusterID
        } else if clusterID != self.clusterID {
            return .otherCluster(ours: self.clusterID, theirs: clusterID)
        }
        switch self.peerIncarnations[peer] {
        case nil:
            // A peer of a version without incarnations is accepted, and not remembered.
            if learning, incarnation != 0 { self.peerIncarnations[peer] = incarnation }
            return nil
        case incarnation:
            return nil
        case let known?:
            return .replacedData(peer, known: known, presented: incarnation)
        }
    }

    /// Takes the incarnations `configuration` records for members other than `node` (this node)
    /// as the ones they must present: the replicated record wins over what this node learned by
    /// itself. Returns whether anything changed.
    @discardableResult
    public mutating func record(_ configuration: ClusterConfiguration, except node: NodeID) -> Bool {
        var changed = false
        for (member, incarnation) in configuration.incarnations where member != node && self.peerIncarnations[member] != incarnation {
            self.peerIncarnations[member] = incarnation
            changed = true
        }
        return changed
    }

    /// Forgets what it learned of `nodes`, which the committed membership no longer lists: one
    /// removed and added again may come back with new data. Returns whether anything changed.
    @discardableResult
    public mutating func forget(_ nodes: some Sequence<NodeID>) -> Bool {
        var changed = false
        for node in nodes where self.peerIncarnations.removeValue(forKey: node) != nil { changed = true }
        return changed
    }
}
