import CoreMetrics
import Logging
import Metrics
import RaftCore

extension NodeLoop {
    /// Handles every Ready: send, persist (one append + fsync for the batch), acknowledge, apply.
    mutating func processReady() async throws {
        while let core = self.core, core.hasReady {
            let ready = self.core!.ready()
            // The leader's replication traffic goes out while it persists.
            for message in ready.messages { await self.send(message) }
            if ready.mustSync {
                let started = ContinuousClock.now
                try await self.persist(ready)
                self.metrics.fsyncLatency.record(duration: ContinuousClock.now - started)
                if !ready.entries.isEmpty { self.metrics.appendBatchSize.record(ready.entries.count) }
            }
            for message in ready.persistedMessages { await self.send(message) }
            if self.snapshotInFlight != nil {
                self.deferredEntries.append(contentsOf: ready.committedEntries)
            } else {
                try await self.apply(ready.committedEntries)
            }
            for read in ready.readStates {
                if let waiting = self.readsWaitingForIndex.removeValue(forKey: read.context) {
                    self.readsWaitingForApply.append((read.index, waiting.query, waiting.deadline, waiting.continuation))
                }
            }
            for context in ready.droppedReads {
                if let waiting = self.readsWaitingForIndex.removeValue(forKey: context) {
                    waiting.continuation.resume(returning: .failure(RaftError(.noLeader, "leadership was lost before the read was confirmed")))
                }
            }
            await self.serveReads()
            if let soft = ready.softState {
                self.logger.debug(
                    "role changed",
                    metadata: ["raft.role": "\(soft.role)", "raft.leader": "\(soft.leader.map(String.init) ?? "none")",
                               "raft.term": "\(self.core!.term)"])
                if soft.role != .leader { self.dropProposals() }
                if soft.role == .preCandidate || soft.role == .candidate { self.metrics.electionsStarted.increment() }
            }
            self.core!.advance(ready)
            try self.maybeSnapshot()
        }
    }

    func send(_ message: Message) async {
        guard let address = self.addresses[message.to] else {
            // A joining node hears from a leader it has no address for: ask its peers.
            self.node.lookUpAddress(of: message.to, among: Array(self.addresses.values))
            return
        }
        if case .installSnapshot(let metadata) = message.body {
            // Reading a large snapshot would stall the loop (heartbeats, elections): read and send
            // it from its own task. If it was replaced meanwhile, the leader retries later.
            let snapshots = self.storage.snapshots
            let transport = self.node.transport
            Task(executorPreference: self.blockingWork) {
                guard let reader = try? snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index,
                    let bytes = try? reader.readAll()
                else { return }
                await transport.send(message, snapshot: bytes, to: address)
            }
            return
        }
        await self.node.transport.send(message, snapshot: nil, to: address)
    }

    /// Persists a Ready so that a crash between any two steps leaves a directory that restarts:
    ///
    /// 1. term and vote (with a commit index the stored log already holds), so no stored entry or
    ///    snapshot is ever newer than the saved term;
    /// 2. a snapshot from the leader: stored, restored into the state machine, and only then the
    ///    whole old log dropped (start-up reconciles a crash in between, see ``reconcile``);
    /// 3. the new entries, after deleting any stored suffix they replace.
    mutating func persist(_ ready: Ready) async throws {
        do {
            if let hard = ready.hardState { try self.saveHardState(hard, before: ready) }
            if let snapshot = ready.snapshot { try await self.installSnapshot(snapshot) }
            if let first = ready.entries.first {
                if first.index <= self.storage.log.lastIndex { try self.storage.log.truncateSuffix(from: first.index) }
                try self.storage.log.append(ready.entries)
            }
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot persist: \(error)")
        }
    }

    /// Saves term and vote when they changed. The commit index need not be durable (a restarted
    /// node learns it again), and saving it on every commit would cost an atomic file replacement
    /// per command; when it is saved, it never covers an index whose stored entry this Ready is
    /// about to replace (a restart would apply the stale entry).
    func saveHardState(_ hard: HardState, before ready: Ready) throws {
        var state = self.storage.stable.state
        guard state.hardState.term != hard.term || state.hardState.vote != hard.vote else { return }
        var commit = hard.commit
        if ready.snapshot != nil {
            commit = min(commit, state.hardState.commit)
        } else if let first = ready.entries.first {
            commit = min(commit, first.index - 1)
        } else {
            commit = min(commit, self.storage.log.lastIndex)
        }
        state.hardState = HardState(term: hard.term, vote: hard.vote, commit: commit)
        try self.storage.stable.save(state)
    }

    /// Installs a snapshot received from the leader: stores it, restores the state machine from
    /// the stored copy, then drops every stored entry (Ready's contract). A snapshot the state
    /// machine cannot restore stops the node with the log intact; start-up then falls back to the
    /// previous snapshot.
    mutating func installSnapshot(_ snapshot: SnapshotMetadata) async throws {
        guard let bytes = self.inboundSnapshots.removeValue(forKey: snapshot.index) else {
            throw RaftError(.storage, "snapshot \(snapshot.index) arrived without its bytes")
        }
        self.inboundSnapshots = [:]
        // A local snapshot still being written must land first: the store orders by index.
        if let task = self.snapshotTask { await task.value }
        let snapshots = self.storage.snapshots
        let machine = self.node.stateMachine
        // Checksums, copies and the restore of a large snapshot run on their own thread.
        try await withTaskExecutorPreference(self.blockingWork) {
            let writer = try snapshots.makeWriter(for: snapshot)
            do {
                try writer.write(bytes)
                _ = try writer.commit()
            } catch {
                writer.abort()
                throw error
            }
            do {
                guard let reader = try snapshots.openNewest(), reader.snapshot.metadata.index == snapshot.index else {
                    throw RaftError(.storage, "snapshot \(snapshot.index) is not the newest stored one")
                }
                try await machine.restore(from: SnapshotInput(reader))
            } catch {
                throw RaftError(.stateMachine, "cannot restore the state machine from snapshot \(snapshot.index): \(error)")
            }
        }
        let log = self.storage.log
        if log.lastIndex > snapshot.index { try log.truncateSuffix(from: max(snapshot.index + 1, log.firstIndex)) }
        try log.compactPrefix(through: snapshot.index)
        self.applied = snapshot.index
        self.lastSnapshotIndex = snapshot.index
        // Entries deferred behind a local snapshot are in the leader's snapshot.
        self.deferredEntries.removeAll { $0.index <= snapshot.index }
        // Proposals the snapshot covers may or may not be in it.
        for index in self.proposals.keys.sorted() where index <= snapshot.index {
            for proposal in self.proposals.removeValue(forKey: index)! {
                proposal.continuation.resume(returning: .failure(RaftError(.timedOut, "outcome unknown: replaced by a snapshot")))
            }
        }
    }

    mutating func apply(_ entries: [Entry]) async throws {
        guard !entries.isEmpty else { return }
        var commands: [CommittedCommand] = []
        for entry in entries {
            if case .command(let bytes) = entry.payload {
                commands.append(CommittedCommand(index: entry.index, term: entry.term, bytes: bytes))
            }
        }
        var results: [UInt64: [UInt8]] = [:]
        if !commands.isEmpty {
            let output: [[UInt8]]
            do {
                output = try await self.node.stateMachine.apply(commands)
            } catch {
                throw RaftError(.stateMachine, "the state machine failed to apply entries \(commands[0].index)...: \(error)")
            }
            for (command, result) in zip(commands, output) { results[command.index] = result }
        }
        for entry in entries {
            self.applied = entry.index
            guard let waiting = self.proposals.removeValue(forKey: entry.index) else { continue }
            for proposal in waiting {
                if proposal.term == entry.term {
                    self.metrics.proposalLatency.record(duration: ContinuousClock.now - proposal.started)
                    proposal.continuation.resume(returning: .success(results[entry.index] ?? []))
                } else {
                    proposal.continuation.resume(
                        returning: .failure(RaftError(.noLeader, "leadership changed; the command was not applied")))
                }
            }
        }
    }

    mutating func serveReads() async {
        guard !self.readsWaitingForApply.isEmpty else { return }
        let (ready, waiting) = self.readsWaitingForApply.partitioned { $0.index <= self.applied }
        self.readsWaitingForApply = waiting
        for read in ready {
            do {
                read.continuation.resume(returning: .success(try await self.node.stateMachine.query(read.query)))
            } catch {
                read.continuation.resume(returning: .failure(RaftError(.rejected, "query failed: \(error)")))
            }
        }
    }

    /// Proposals of a lost leadership: the entries may still commit under the next leader, so the
    /// outcome is unknown.
    mutating func dropProposals() {
        for index in self.proposals.keys.sorted() {
            for proposal in self.proposals.removeValue(forKey: index)! {
                proposal.continuation.resume(
                    returning: .failure(RaftError(.timedOut, "leadership was lost; the command may or may not be applied")))
            }
        }
    }

    /// Starts a snapshot once `snapshotThreshold` entries were applied since the last one. The
    /// state machine writes it from its own task (a large state would otherwise hold up heartbeats
    /// past the election timeout); applying pauses until it is durable, then the log is compacted.
    mutating func maybeSnapshot() throws {
        let configuration = self.node.configuration
        // A threshold near UInt64.max must not overflow: such a node never snapshots.
        let (due, overflow) = self.lastSnapshotIndex.addingReportingOverflow(configuration.snapshotThreshold)
        guard self.snapshotInFlight == nil, let core = self.core, !overflow, self.applied >= due else { return }
        let metadata: SnapshotMetadata
        do {
            metadata = try core.snapshotMetadata(at: self.applied)
        } catch where error.code == .configurationUnknown {
            return  // joined later and not yet past the entry that added it: snapshot later
        } catch {
            throw RaftError(.storage, "cannot take a snapshot at \(self.applied): \(error)")
        }
        self.snapshotInFlight = metadata
        let snapshots = self.storage.snapshots
        let machine = self.node.stateMachine
        let node = self.node
        self.snapshotTask = Task(executorPreference: self.blockingWork) {
            var failure: String?
            do {
                let writer = try snapshots.makeWriter(for: metadata)
                do {
                    try await machine.snapshot(to: SnapshotOutput { bytes in try writer.write(bytes) })
                    _ = try writer.commit()
                } catch {
                    writer.abort()
                    throw error
                }
            } catch {
                failure = "\(error)"
            }
            node.enqueue(.snapshotWritten(metadata, failure: failure))
        }
    }

    /// The snapshot written off the loop is durable: compact the core and the log, then apply what
    /// committed meanwhile.
    mutating func finishSnapshot(_ metadata: SnapshotMetadata, failure: String?) async throws {
        guard self.snapshotInFlight == metadata else { return }
        self.snapshotInFlight = nil
        self.snapshotTask = nil
        if let failure { throw RaftError(.storage, "cannot take a snapshot at \(metadata.index): \(failure)") }
        // A snapshot installed from the leader meanwhile is newer: nothing to compact.
        if metadata.index > self.lastSnapshotIndex, self.core != nil {
            do {
                try self.core!.compact(snapshotAt: metadata.index, trailingEntries: self.node.configuration.trailingLogs)
                let first = self.core!.firstIndex
                if first > 1 { try self.storage.log.compactPrefix(through: first - 1) }
            } catch {
                throw RaftError(.storage, "cannot compact the log after the snapshot at \(metadata.index): \(error)")
            }
            self.lastSnapshotIndex = metadata.index
        }
        let deferred = self.deferredEntries
        self.deferredEntries = []
        try await self.apply(deferred)
        await self.serveReads()
    }

    /// Publishes the status for ``RaftNode/status`` and the gauges.
    mutating func publish() {
        if let core = self.core {
            self.metrics.term.record(Double(core.term))
            self.metrics.commitIndex.record(Double(core.commitIndex))
            self.metrics.appliedIndex.record(Double(self.applied))
            let state: Double = switch core.role {
            case .follower: core.isVoter ? 0 : 3
            case .preCandidate, .candidate: 1
            case .leader: 2
            }
            self.metrics.state.record(state)
            if core.role == .leader {
                for (peer, match) in core.status.matchIndex.sorted(by: { $0.key < $1.key }) {
                    self.metrics.recordLag(of: peer, core.lastIndex - min(match, core.lastIndex))
                }
            }
        }
        let core = self.core
        let id = self.node.configuration.id
        let addresses = self.addresses
        let contact = self.lastLeaderContact
        self.node.publish { status in
            guard let core else {
                status.state = .follower
                return
            }
            switch core.role {
            case .leader: status.state = .leader
            case .candidate, .preCandidate: status.state = .candidate
            case .follower:
                // A node outside the configuration (joining, or removed) is a follower that never campaigns.
                status.state = core.isVoter || !core.configuration.contains(id) ? .follower : .readOnly
            }
            status.term = core.term
            status.commitIndex = core.commitIndex
            status.lastApplied = self.applied
            status.leaderID = core.leader
            status.leaderAddress = core.leader.flatMap { $0 == id ? self.node.address : addresses[$0] }
            status.lastLeaderContact = core.leader == id ? .now : contact
            var members: [NodeID: Bool] = [:]
            for voter in core.configuration.voters { members[voter] = true }
            for learner in core.configuration.learners { members[learner] = false }
            status.members = members
            status.isMember = core.configuration.contains(id)
            status.committedMembers = Set(core.committedConfiguration.members)
            status.peerContact = self.lastHeard.filter { core.configuration.contains($0.key) }
            status.memberAddresses = members.keys.reduce(into: [:]) { result, member in
                result[member] = member == id ? self.node.address : addresses[member]
            }
        }
    }
}
