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
    ///
    /// Only the newest ``RaftNode/Configuration/inMemoryLogBytes`` of commands are loaded; older
    /// ones are placeholders, read back when they are applied or sent.
    func reconcile(snapshot: SnapshotMetadata?) throws -> RawNode.PersistentState {
        try NodeRecovery.reconcile(
            log: self.storage.log, stable: self.storage.stable, snapshot: snapshot,
            residentBytes: self.node.configuration.inMemoryLogBytes, logger: self.logger)
    }
}

/// Start-up repairs shared by the runtime and the simulator (which runs them over its own
/// in-memory stores after every simulated crash).
package enum NodeRecovery {
    /// See `NodeLoop.reconcile(snapshot:)`.
    package static func reconcile(
        log: any LogStore, stable stableStore: any StableStore, snapshot: SnapshotMetadata?, residentBytes: Int = .max,
        logger: Logger
    ) throws -> RawNode.PersistentState {
        if let snapshot, log.lastIndex > snapshot.index || log.firstIndex <= snapshot.index {
            // The log agrees if it holds the snapshot's last entry with its term, or starts right
            // after it: entries appended after that snapshot was installed (and the log dropped).
            let continues = log.firstIndex == snapshot.index + 1
            let matches =
                continues
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
        let entries = try Self.loadEntries(from: log, residentBytes: residentBytes)
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

    /// The stored entries, with every command but the newest `residentBytes` of them as an
    /// ``Entry/Payload/evictedCommand(byteCount:)`` placeholder: start-up holds about that much
    /// plus one read, however long the stored log (10,000 entries of 1 MiB would be 10 GiB).
    package static func loadEntries(from log: any LogStore, residentBytes: Int) throws(StorageError) -> [Entry] {
        var entries: [Entry] = []
        var resident = 0
        var nextToEvict = 0
        var next = log.firstIndex
        while next <= log.lastIndex {
            let read = try log.entries(in: next..<(log.lastIndex + 1), maxBytes: Self.readBytes)
            guard let last = read.last else { break }
            for entry in read { resident += Self.commandBytes(entry) }
            entries.append(contentsOf: read)
            next = last.index + 1
            while resident > residentBytes, nextToEvict < entries.count {
                if case .command(let bytes) = entries[nextToEvict].payload {
                    entries[nextToEvict].payload = .evictedCommand(byteCount: bytes.count)
                    resident -= bytes.count
                }
                nextToEvict += 1
            }
        }
        return entries
    }

    /// How much one read of the log store returns, at start-up and when placeholders are read back.
    package static let readBytes = 8 << 20

    static func commandBytes(_ entry: Entry) -> Int {
        if case .command(let bytes) = entry.payload { bytes.count } else { 0 }
    }
}
