package import Logging
package import RaftCore

extension NodeLoop {
    /// Restores the state machine from the newest snapshot it accepts, trying older ones when a
    /// newer one cannot be read or restored (a snapshot whose install failed, a damaged file).
    mutating func restoreNewestSnapshot() async throws -> SnapshotMetadata? {
        let snapshots = self.storage.snapshots
        let machine = self.node.stateMachine
        let stored = try snapshots.list()
        var failures: [String] = []
        for candidate in stored {
            do {
                try await withTaskExecutorPreference(self.blockingWork) {
                    try await machine.restore(from: SnapshotInput(try snapshots.open(candidate)))
                }
                if !failures.isEmpty {
                    self.logger.warning(
                        "restored an older snapshot: newer ones failed",
                        metadata: ["raft.snapshot_index": "\(candidate.metadata.index)", "raft.failures": "\(failures)"])
                }
                return candidate.metadata
            } catch {
                failures.append("snapshot \(candidate.metadata.index): \(error)")
            }
        }
        guard failures.isEmpty else {
            throw RaftError(.stateMachine, "no stored snapshot could be restored: \(failures.joined(separator: "; "))")
        }
        return nil
    }

    /// What the core restarts from, after repairing what a crash between two persistence steps
    /// can leave behind:
    ///
    /// - a log that disagrees with the snapshot (the snapshot was stored, the old log not yet
    ///   dropped): the entries after the snapshot are kept only if the log holds the snapshot's
    ///   last entry with its term (Raft's InstallSnapshot rule) or starts right after it (the
    ///   snapshot was installed and the log dropped before they were appended), else dropped;
    /// - entries or a snapshot newer than the saved term (written before the term was saved, by
    ///   earlier builds that persisted entries first): the term is raised past them, with no
    ///   vote. This node never voted in those terms: a vote is sent only once it is saved.
    func reconcile(snapshot: SnapshotMetadata?) throws -> RawNode.PersistentState {
        try NodeRecovery.reconcile(log: self.storage.log, stable: self.storage.stable, snapshot: snapshot, logger: self.logger)
    }
}

/// Start-up repairs shared by the runtime and the simulator (which runs them over its own
/// in-memory stores after every simulated crash).
package enum NodeRecovery {
    /// See `NodeLoop.reconcile(snapshot:)`.
    package static func reconcile(
        log: any LogStore, stable stableStore: any StableStore, snapshot: SnapshotMetadata?, logger: Logger
    ) throws -> RawNode.PersistentState {
        if let snapshot, log.lastIndex > snapshot.index || log.firstIndex <= snapshot.index {
            // The log agrees if it holds the snapshot's last entry with its term, or starts right
            // after it: entries appended after that snapshot was installed (and the log dropped).
            let continues = log.firstIndex == snapshot.index + 1
            let matches = continues
                || (log.firstIndex <= snapshot.index && log.lastIndex >= snapshot.index
                    && (try? log.term(at: snapshot.index)) == snapshot.term)
            if !matches {
                if log.lastIndex > snapshot.index, log.firstIndex <= snapshot.index + 1 {
                    try log.truncateSuffix(from: max(snapshot.index + 1, log.firstIndex))
                }
                try log.compactPrefix(through: snapshot.index)
                logger.warning(
                    "dropped log entries that disagree with the snapshot",
                    metadata: ["raft.snapshot_index": "\(snapshot.index)", "raft.snapshot_term": "\(snapshot.term)"])
            }
        }
        let entries = try log.allEntries()
        var stable = stableStore.state
        let newest = max(entries.last?.term ?? 0, snapshot?.term ?? 0)
        if newest > stable.hardState.term {
            logger.warning(
                "the log holds a term newer than the saved one; raising the term",
                metadata: ["raft.saved_term": "\(stable.hardState.term)", "raft.log_term": "\(newest)"])
            stable.hardState = HardState(term: newest + 1, vote: nil, commit: stable.hardState.commit)
            try stableStore.save(stable)
        }
        return RawNode.PersistentState(hardState: stable.hardState, snapshot: snapshot, entries: entries)
    }
}
