import RaftCore

extension Simulation {
    /// Carries out every Ready of a node in the documented order, checking invariants as it goes.
    mutating func processReady(_ id: NodeID) {
        let index = Int(id - 1)
        while self.failure == nil, self.nodes[index].core?.hasReady == true {
            let ready = self.nodes[index].core!.ready()

            // 1. Replication traffic may leave before the fsync.
            for message in ready.messages { self.send(message) }
            if ready.mustSync && self.nodes[index].crashBeforePersist {
                self.crash(id)
                return
            }

            // 2. Persist.
            self.persist(id, ready)
            guard self.failure == nil else { return }

            // 3. Acknowledgements only after the fsync.
            for message in ready.persistedMessages { self.send(message) }

            // 4. Apply and serve reads.
            for entry in ready.committedEntries { self.apply(id, entry) }
            for read in ready.readStates {
                if let pending = self.nodes[index].pendingReads.removeValue(forKey: read.context) {
                    self.nodes[index].confirmedReads.append((read.index, pending.op, pending.key))
                }
            }
            for context in ready.droppedReads {
                if let pending = self.nodes[index].pendingReads.removeValue(forKey: context) {
                    self.resolve(pending.op, .failed)
                    self.clientFinished(op: pending.op)
                }
            }
            self.serveConfirmedReads(id)
            if let soft = ready.softState, soft.role == .leader {
                self.checkNewLeader(id)
                self.checkNewLeaderIsVoter(id)
            }

            self.nodes[index].core!.advance(ready)
            self.checkMonotonic(id)
            self.checkLeaderCommitRule(id)
            self.checkAcknowledgedEntriesAreDurable(id)
            self.checkMembership(id)
            self.maybeSnapshot(id)
        }
    }

    mutating func persist(_ id: NodeID, _ ready: Ready) {
        let index = Int(id - 1)
        // The disk is mutated in place: a copy would duplicate the whole log on every Ready.
        if let snapshot = ready.snapshot {
            guard let bytes = self.nodes[index].inboundSnapshots[snapshot.index],
                let machine = try? KVStateMachine(snapshot: bytes)
            else {
                self.fail("node \(id) was told to install snapshot \(snapshot.index) whose bytes never arrived")
                return
            }
            if let expected = self.stateAfterIndex[snapshot.index], expected != bytes {
                self.fail("node \(id) installs a snapshot at \(snapshot.index) that differs from the state other nodes had there")
                return
            }
            self.checkSnapshotConfiguration(id, snapshot, origin: "installs")
            self.installedSnapshots[id, default: 0] += 1
            self.nodes[index].disk.snapshot = snapshot
            self.nodes[index].disk.snapshotData = bytes
            self.nodes[index].disk.entries = []
            self.nodes[index].inboundSnapshots = [:]
            self.nodes[index].stateMachine = machine
            self.nodes[index].applied = snapshot.index
            self.failProposals(id, through: snapshot.index)
        }
        if let first = ready.entries.first {
            if let firstStored = self.nodes[index].disk.entries.first?.index, first.index >= firstStored {
                self.nodes[index].disk.entries.removeSubrange(Int(first.index - firstStored)...)
            } else {
                self.nodes[index].disk.entries.removeAll()
            }
            let expected =
                self.nodes[index].disk.entries.last.map { $0.index + 1 }
                ?? (self.nodes[index].disk.snapshot?.index ?? 0) + 1
            if first.index > expected {
                self.fail("node \(id) would store a gap: next stored index \(expected), got \(first.index)")
                return
            }
            self.nodes[index].disk.entries.append(contentsOf: ready.entries)
            self.checkLogMatching(id, ready.entries)
        }
        if let hard = ready.hardState {
            if hard.term < (self.durableTerm[id] ?? 0) {
                self.fail("node \(id)'s durable term went back from \(self.durableTerm[id]!) to \(hard.term)")
            }
            if hard.commit < (self.durableCommit[id] ?? 0) && ready.snapshot == nil {
                self.fail("node \(id)'s durable commit went back from \(self.durableCommit[id]!) to \(hard.commit)")
            }
            self.durableTerm[id] = hard.term
            self.durableCommit[id] = max(hard.commit, self.durableCommit[id] ?? 0)
            self.nodes[index].disk.hardState = hard
            self.checkCommitted(id, through: hard.commit)
        }
    }

    mutating func apply(_ id: NodeID, _ entry: Entry) {
        let index = Int(id - 1)
        guard entry.index == self.nodes[index].applied + 1 else {
            self.fail("node \(id) applies index \(entry.index) after \(self.nodes[index].applied)")
            return
        }
        guard let committed = self.committedLog[entry.index], committed == entry else {
            self.fail("node \(id) applies an entry at \(entry.index) (term \(entry.term)) that differs from the committed one")
            return
        }
        self.nodes[index].applied = entry.index
        var result: KVResult?
        if case .command(let bytes) = entry.payload {
            result = self.nodes[index].stateMachine.apply(bytes)
        }
        let state = self.nodes[index].stateMachine.snapshot()
        if let expected = self.stateAfterIndex[entry.index] {
            if expected != state { self.fail("node \(id)'s state machine after index \(entry.index) differs from other nodes'") }
        } else {
            self.stateAfterIndex[entry.index] = state
        }
        if let pending = self.nodes[index].pendingProposals.removeValue(forKey: entry.index) {
            for proposal in pending {
                if proposal.term == entry.term, let result {
                    self.resolve(proposal.op, .ok(result))
                } else {
                    // Another entry took the index: ours can never commit.
                    self.resolve(proposal.op, .failed)
                }
                self.clientFinished(op: proposal.op)
            }
        }
    }

    /// Proposals at indices a snapshot covered: their outcome is unknown to this node.
    mutating func failProposals(_ id: NodeID, through index: UInt64) {
        let node = Int(id - 1)
        for key in self.nodes[node].pendingProposals.keys.sorted() where key <= index {
            for proposal in self.nodes[node].pendingProposals.removeValue(forKey: key)! {
                self.resolve(proposal.op, .unknown)
                self.clientFinished(op: proposal.op)
            }
        }
    }

    mutating func serveConfirmedReads(_ id: NodeID) {
        let index = Int(id - 1)
        let applied = self.nodes[index].applied
        var waiting: [(index: UInt64, op: Int, key: String)] = []
        for read in self.nodes[index].confirmedReads {
            if read.index <= applied {
                self.resolve(read.op, .ok(.read(self.nodes[index].stateMachine.values[read.key])))
                self.clientFinished(op: read.op)
            } else {
                waiting.append(read)
            }
        }
        self.nodes[index].confirmedReads = waiting
    }

    mutating func maybeSnapshot(_ id: NodeID) {
        guard let threshold = self.options.snapshotThreshold else { return }
        let index = Int(id - 1)
        guard self.nodes[index].isUp else { return }
        let applied = self.nodes[index].applied
        guard applied >= (self.nodes[index].core!.snapshot?.index ?? 0) + threshold else { return }
        do {
            try self.nodes[index].core!.compact(snapshotAt: applied, trailingEntries: self.options.trailingEntries)
        } catch  where error.code == .configurationUnknown {
            return  // a joiner that has not yet applied the entry that added it: later
        } catch {
            self.fail("node \(id) cannot compact at \(applied): \(error)")
            return
        }
        self.nodes[index].disk.snapshot = self.nodes[index].core!.snapshot
        if let snapshot = self.nodes[index].core!.snapshot { self.checkSnapshotConfiguration(id, snapshot, origin: "takes") }
        self.nodes[index].disk.snapshotData = self.nodes[index].stateMachine.snapshot()
        let first = self.nodes[index].core!.firstIndex
        self.nodes[index].disk.entries.removeAll { $0.index < first }
    }

    // MARK: - Invariants

    /// Log matching: an (index, term) pair identifies one payload and one predecessor term.
    mutating func checkLogMatching(_ id: NodeID, _ entries: [Entry]) {
        guard let core = self.nodes[Int(id - 1)].core else { return }
        for entry in entries {
            let previousTerm = core.term(at: entry.index - 1) ?? 0
            let key = EntryKey(index: entry.index, term: entry.term)
            if let known = self.entryRegistry[key] {
                if known.payload != entry.payload || known.previousTerm != previousTerm {
                    self.fail("log matching violated at index \(entry.index) term \(entry.term) on node \(id)")
                    return
                }
            } else {
                self.entryRegistry[key] = (entry.payload, previousTerm)
            }
        }
    }

    /// No committed entry is ever changed: the first node to commit an index fixes it for all.
    mutating func checkCommitted(_ id: NodeID, through commit: UInt64) {
        guard let core = self.nodes[Int(id - 1)].core else { return }
        var index = max(core.firstIndex, self.nodes[Int(id - 1)].highestCommit + 1)
        while index <= commit {
            guard let entry = core.entry(at: index) else { break }
            if let known = self.committedLog[index] {
                if known != entry {
                    self.fail("node \(id) committed index \(index) term \(entry.term), but term \(known.term) was committed there")
                    return
                }
                self.commitTerm[index] = min(self.commitTerm[index] ?? .max, core.term)
            } else {
                self.committedLog[index] = entry
                self.commitTerm[index] = core.term
                self.recordCommittedConfiguration(entry)
            }
            index += 1
        }
        self.highestCommitted = max(self.highestCommitted, commit)
        self.nodes[Int(id - 1)].highestCommit = max(self.nodes[Int(id - 1)].highestCommit, commit)
    }

    /// Election safety and leader completeness: a leader of term T holds every entry committed in
    /// an earlier term. (Not entries committed in later terms: a node paused as a candidate may
    /// count the votes of its old term after later leaders committed more.)
    mutating func checkNewLeader(_ id: NodeID) {
        guard let core = self.nodes[Int(id - 1)].core else { return }
        if let other = self.leaderOfTerm[core.term], other != id {
            self.fail("two leaders in term \(core.term): \(other) and \(id)")
            return
        }
        self.leaderOfTerm[core.term] = id
        var required: UInt64 = 0
        for index in stride(from: self.highestCommitted, to: 0, by: -1) where (self.commitTerm[index] ?? .max) < core.term {
            required = index
            break
        }
        guard core.lastIndex >= required else {
            self.fail("leader \(id) of term \(core.term) lacks committed entries: last index \(core.lastIndex) < \(required)")
            return
        }
        var index = max(core.firstIndex, 1)
        while index <= required {
            if let known = self.committedLog[index], core.entry(at: index) != known {
                self.fail("leader \(id) of term \(core.term) has a different entry at committed index \(index)")
                return
            }
            index += 1
        }
    }

    /// §5.4.2: a leader advances its commit index only to an entry of its own term.
    mutating func checkLeaderCommitRule(_ id: NodeID) {
        let index = Int(id - 1)
        guard let core = self.nodes[index].core, core.role == .leader else {
            self.nodes[index].leadership = nil
            return
        }
        guard let leadership = self.nodes[index].leadership, leadership.term == core.term else {
            self.nodes[index].leadership = (core.term, core.commitIndex)
            return
        }
        if core.commitIndex > leadership.initialCommit, core.term(at: core.commitIndex) != core.term {
            self.fail(
                "leader \(id) of term \(core.term) committed index \(core.commitIndex) of term \(core.term(at: core.commitIndex) ?? 0) by counting replicas")
        }
    }

    /// What a leader counts as replicated on a follower of its term must be on that follower's disk.
    mutating func checkAcknowledgedEntriesAreDurable(_ id: NodeID) {
        guard let core = self.nodes[Int(id - 1)].core, core.role == .leader else { return }
        for (peer, match) in core.status.matchIndex.sorted(by: { $0.key < $1.key }) where match > 0 {
            let disk = self.nodes[Int(peer - 1)].disk
            guard disk.hardState.term == core.term, match > (disk.snapshot?.index ?? 0),
                let expectedTerm = core.term(at: match)
            else { continue }
            let stored = disk.entries.first.flatMap { first in
                match >= first.index && match - first.index < UInt64(disk.entries.count)
                    ? disk.entries[Int(match - first.index)] : nil
            }
            if stored?.term != expectedTerm {
                self.fail("leader \(id) counts index \(match) as replicated on node \(peer), which does not have it on disk")
                return
            }
        }
    }

    /// A node's term and commit index never go back while it runs.
    mutating func checkMonotonic(_ id: NodeID) {
        let index = Int(id - 1)
        guard let core = self.nodes[index].core else { return }
        if core.term < self.nodes[index].highestTerm {
            self.fail("node \(id)'s term went back from \(self.nodes[index].highestTerm) to \(core.term)")
        }
        self.nodes[index].highestTerm = core.term
        if core.commitIndex < self.nodes[index].highestCommit {
            self.fail("node \(id)'s commit index went back from \(self.nodes[index].highestCommit) to \(core.commitIndex)")
        }
        self.checkCommitted(id, through: core.commitIndex)
    }
}
