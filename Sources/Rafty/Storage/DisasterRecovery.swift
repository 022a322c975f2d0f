import Logging
public import RaftCore

/// Disaster recovery for a cluster that lost its quorum for good.
public enum DisasterRecovery {
    /// What ``forceNewCluster(dataDirectory:address:)`` did.
    public struct Outcome: Sendable, Hashable {
        /// The surviving node, now the only voter.
        public var nodeID: NodeID
        /// Its gRPC address in the new configuration.
        public var address: String
        /// The index of the configuration entry appended (the survivor's log ends there).
        public var configurationIndex: UInt64
        /// The term of that entry.
        public var term: UInt64
        /// The members of the configuration it replaced, this node included.
        public var previousMembers: Set<NodeID>
        /// The new cluster's id: members of the old cluster that come back are refused.
        public var clusterID: UInt64
    }

    /// Turns a stopped node's data directory into a one-member cluster with all its data (etcd's
    /// `--force-new-cluster`): a configuration naming only this node is appended to its log, at a
    /// term above every term it knows, and saved as its membership. Started again, the node leads
    /// at once; grow the cluster back with ``RaftNode/addMember(id:address:asVoter:timeout:)``
    /// (`rafty members add`), adding nodes with fresh data directories. The node gets a new
    /// cluster id (``NodeIdentity``): old members restarted by mistake are refused.
    ///
    /// **The survivor's log becomes the truth:** entries it holds that the old cluster never
    /// committed (their clients got "outcome unknown", or no answer) are committed now, and writes
    /// the old cluster committed that this node never received are lost. Recover from the
    /// member with the longest log (highest last term, then index: `rafty status` before the
    /// loss, or the data directories). Old members must never be restarted with their old data
    /// directories: they would still believe in the old configuration.
    ///
    /// - Parameters:
    ///   - dataDirectory: the node's data directory; the node must be stopped (the directory is locked).
    ///   - address: the node's gRPC address in the new configuration; default the one recorded
    ///     for it in the current configuration.
    /// - Throws: ``RaftError/Code/invalidConfiguration`` if the directory never held a running
    ///   node or no address is known; ``RaftError/Code/storage`` if it cannot be read or written.
    public static func forceNewCluster(dataDirectory: String, address: String? = nil) throws(RaftError) -> Outcome {
        let storage = try Self.open(dataDirectory)
        defer { storage.close() }
        let stable = storage.stable.state
        guard let id = stable.nodeID else {
            throw RaftError(.invalidConfiguration, "\(dataDirectory) holds no node's state (it never ran): nothing to recover")
        }
        do {
            let snapshot = try storage.snapshots.openNewest()?.snapshot.metadata
            let logger = Logger(label: "rafty.recover", factory: { _ in SwiftLogNoOpLogHandler() })
            // Only configurations and the last index matter here: no command is held.
            let state = try NodeRecovery.reconcile(
                log: storage.log, stable: storage.stable, snapshot: snapshot, residentBytes: 0, logger: logger)
            var current = state.snapshot?.configuration ?? stable.configuration ?? ClusterConfiguration()
            for entry in state.entries {
                if case .configuration(let configuration) = entry.payload { current = configuration }
            }
            guard let address = address ?? current.addresses[id] else {
                throw RaftError(.invalidConfiguration, "no address is recorded for node \(id): give it explicitly")
            }
            let lastIndex = state.entries.last?.index ?? state.snapshot?.index ?? 0
            let lastTerm = state.entries.last?.term ?? state.snapshot?.term ?? 0
            let term = max(state.hardState.term, lastTerm) + 1
            let membership = ClusterConfiguration(
                voters: [id], addresses: [id: address], incarnations: [id: storage.identity.identity.incarnation])
            // A new cluster id first: old members that come back (with their old configuration)
            // are refused from then on, whatever point a crash interrupts the rest at.
            let clusterID = try storage.identity.update { identity in
                identity.clusterID = UInt64.random(in: 1...UInt64.max)
                identity.peerIncarnations = [:]
                return identity.clusterID
            }
            // Entry first: a crash before the term is saved leaves a log whose newest term is above
            // the saved one, which start-up repairs by raising the term.
            try storage.log.append([Entry(term: term, index: lastIndex + 1, payload: .configuration(membership))])
            try storage.stable.save(
                StableState(nodeID: id, hardState: HardState(term: term, vote: id, commit: state.hardState.commit), configuration: membership))
            return Outcome(
                nodeID: id, address: address, configurationIndex: lastIndex + 1, term: term, previousMembers: Set(current.members), clusterID: clusterID)
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot recover \(dataDirectory): \(error)", cause: error)
        }
    }

    /// Opens (and locks) a stopped node's data directory.
    private static func open(_ dataDirectory: String) throws(RaftError) -> RaftStorage {
        do {
            return try RaftStorage.open(dataDirectory: dataDirectory)
        } catch {
            throw RaftError(.storage, "cannot open \(dataDirectory): \(error)", cause: error)
        }
    }

    /// What ``restore(snapshot:index:dataDirectory:nodeID:address:)`` did.
    public struct Restored: Sendable, Hashable {
        /// The new cluster's only member.
        public var nodeID: NodeID
        /// Its gRPC address.
        public var address: String
        /// The log index of the restored state.
        public var index: UInt64
        /// The new cluster's id.
        public var clusterID: UInt64
    }

    /// Makes a fresh data directory that starts a one-member cluster from a state-machine snapshot
    /// (a backup): the snapshot is stored at `index`, term 1, with a configuration naming only
    /// `nodeID` at `address`; the node gets a new cluster id. Started, the node restores its state
    /// machine from the snapshot and leads at once; grow the cluster with `rafty members add`.
    ///
    /// - Throws: ``RaftError/Code/invalidConfiguration`` if the directory already holds a node's
    ///   state or `index` is 0; ``RaftError/Code/storage`` if it cannot be written.
    public static func restore(
        snapshot: [UInt8], index: UInt64, dataDirectory: String, nodeID: NodeID, address: String
    ) throws(RaftError) -> Restored {
        guard index > 0 else { throw RaftError(.invalidConfiguration, "the snapshot holds no applied entry (index 0): nothing to restore") }
        guard nodeID != 0 else { throw RaftError(.invalidConfiguration, "the node id must be non-zero") }
        let storage = try Self.open(dataDirectory)
        defer { storage.close() }
        do {
            guard storage.stable.state.nodeID == nil, storage.log.lastIndex == 0 else {
                throw RaftError(.invalidConfiguration, "\(dataDirectory) already holds a node's state: restore into a new directory")
            }
            // Snapshots without a node: what an interrupted restore left.
            try storage.snapshots.retain(newest: 0)
            let membership = ClusterConfiguration(
                voters: [nodeID], addresses: [nodeID: address], incarnations: [nodeID: storage.identity.identity.incarnation])
            let clusterID = try storage.identity.update { identity in
                identity.clusterID = UInt64.random(in: 1...UInt64.max)
                return identity.clusterID
            }
            // The snapshot first, the stable state last: until it is saved the directory holds no
            // node, and a rerun after a crash starts over (the snapshot is replaced).
            try storage.snapshots.store(snapshot, for: SnapshotMetadata(index: index, term: 1, configuration: membership))
            try storage.stable.save(StableState(nodeID: nodeID, hardState: HardState(term: 1, vote: nodeID, commit: index), configuration: membership))
            return Restored(nodeID: nodeID, address: address, index: index, clusterID: clusterID)
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot restore into \(dataDirectory): \(error)", cause: error)
        }
    }
}
