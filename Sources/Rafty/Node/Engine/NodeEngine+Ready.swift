import CoreMetrics
import Logging
import Metrics
package import RaftCore

extension NodeEngine {
    /// Takes the core's Readies until there is none left or one must be persisted first; in
    /// between, moves transfers and the membership change on.
    mutating func drive(now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        while self.awaitingPersistence == nil {
            if self.core.hasReady {
                let ready = self.core.ready()
                // The leader's replication traffic goes out while it persists.
                for message in ready.messages { self.send(message, into: &actions) }
                let steps = self.storageSteps(for: ready)
                if ready.mustSync, !steps.isEmpty {
                    self.awaitingPersistence = ready
                    self.applyStoredEntries(of: ready, into: &actions)
                    actions.append(.persist(steps))
                    return
                }
                self.finish(ready, now: now, into: &actions)
                continue
            }
            self.settleTransfers(now: now, into: &actions)
            self.advanceMembership(now: now, into: &actions)
            self.learnAddresses()
            if !self.core.hasReady { return }
        }
    }

    /// Committed entries this node stored before `ready` need not wait for its fsync (under load
    /// every Ready brings new entries): they go to the state machine first, and their callers are
    /// answered one fsync earlier. The rest are applied once the Ready is durable.
    private mutating func applyStoredEntries(of ready: Ready, into actions: inout [NodeAction]) {
        guard ready.snapshot == nil, !self.defersApplies else { return }
        let stored = ready.committedEntries.prefix { $0.index <= self.storedLastIndex }
        guard let last = stored.last else { return }
        self.apply(Array(stored), into: &actions)
        self.appliedEarlyThrough = last.index
    }

    /// The Ready handed to ``NodeAction/persist(_:)`` is durable: acknowledge, apply, go on.
    package mutating func persisted(now: ContinuousClock.Instant) -> [NodeAction] {
        guard let ready = self.awaitingPersistence else { return [] }
        self.awaitingPersistence = nil
        if !ready.entries.isEmpty { self.metrics.appendBatchSize.record(ready.entries.count) }
        var actions: [NodeAction] = []
        self.finish(ready, now: now, into: &actions)
        self.drive(now: now, into: &actions)
        return actions
    }

    /// What makes a Ready durable, in an order that any crash point recovers from:
    ///
    /// 1. term and vote (with a commit index the stored log already holds), so no stored entry or
    ///    snapshot is ever newer than the saved term;
    /// 2. a snapshot from the leader: stored, restored into the state machine, and only then the
    ///    whole old log dropped (start-up reconciles a crash in between);
    /// 3. the new entries, after deleting any stored suffix they replace.
    func storageSteps(for ready: Ready) -> [StorageStep] {
        var steps: [StorageStep] = []
        if let hard = ready.hardState, let saved = self.hardStateToSave(hard, before: ready) { steps.append(.saveHardState(saved)) }
        if let snapshot = ready.snapshot {
            steps.append(.storeSnapshot(snapshot, self.inboundSnapshots[snapshot.index] ?? .bytes([])))
            steps.append(.restoreSnapshot(snapshot))
            steps.append(.dropLog(through: snapshot.index))
        }
        if let first = ready.entries.first {
            // The core's log before this Ready's entries is what storage holds.
            if first.index <= self.storedLastIndex { steps.append(.truncateSuffix(from: first.index)) }
            steps.append(.append(ready.entries))
        }
        return steps
    }

    /// Term and vote are saved when they changed. The commit index need not be durable (a
    /// restarted node learns it again), and saving it on every commit would cost an atomic file
    /// replacement per command; when it is saved, it never covers an index whose stored entry
    /// this Ready is about to replace (a restart would apply the stale entry).
    func hardStateToSave(_ hard: HardState, before ready: Ready) -> HardState? {
        let saved = self.savedHardState
        guard saved.term != hard.term || saved.vote != hard.vote else { return nil }
        var commit = hard.commit
        if ready.snapshot != nil {
            commit = min(commit, saved.commit)
        } else if let first = ready.entries.first {
            commit = min(commit, first.index - 1)
        } else {
            commit = min(commit, self.storedLastIndex)
        }
        return HardState(term: hard.term, vote: hard.vote, commit: commit)
    }

    /// The rest of a Ready once it is durable (or needed no persistence).
    private mutating func finish(_ ready: Ready, now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        if let hard = ready.hardState, let saved = self.hardStateToSave(hard, before: ready) { self.savedHardState = saved }
        if let snapshot = ready.snapshot { self.storedLastIndex = snapshot.index }
        if let last = ready.entries.last { self.storedLastIndex = last.index }
        if let snapshot = ready.snapshot { self.installed(snapshot, into: &actions) }
        for message in ready.persistedMessages { self.send(message, into: &actions) }
        var committed = ready.committedEntries[...]
        if self.appliedEarlyThrough > 0 {
            committed = committed.drop { $0.index <= self.appliedEarlyThrough }
            self.appliedEarlyThrough = 0
        }
        if self.defersApplies {
            self.deferredEntries.append(contentsOf: committed)
        } else {
            self.apply(Array(committed), into: &actions)
        }
        for read in ready.readStates {
            for context in self.takeReads(answeredBy: read.context) {
                if var waiting = self.readsWaitingForIndex.removeValue(forKey: context) {
                    waiting.index = read.index
                    self.readsWaitingForApply.append(waiting)
                }
            }
        }
        for dropped in ready.droppedReads {
            for context in self.takeReads(answeredBy: dropped) {
                if let waiting = self.readsWaitingForIndex.removeValue(forKey: context) {
                    actions.append(.answer(waiting.request, .failure(RaftError(.noLeader, "leadership was lost before the read was confirmed"))))
                }
            }
        }
        self.serveReads(into: &actions)
        if let soft = ready.softState {
            if soft.leader != self.lastSoftState?.leader {
                self.dropFollowerReads("the leader changed before the read was confirmed; nothing was read", into: &actions)
            }
            if soft.role != self.lastSoftState?.role || soft.leader != self.lastSoftState?.leader {
                self.logger.info(
                    "role changed",
                    metadata: [
                        "raft.role": "\(soft.role)", "raft.leader": "\(soft.leader.map(String.init) ?? "none")",
                        "raft.term": "\(self.core.term)",
                    ])
            }
            self.lastSoftState = soft
            if soft.role != .leader { self.dropProposals(into: &actions) }
            if soft.role == .preCandidate || soft.role == .candidate { self.metrics.electionsStarted.increment() }
        }
        self.core.advance(ready)
        // After advance: the core snapshots only what it counts as applied.
        self.maybeSnapshot(into: &actions)
    }

    mutating func send(_ message: Message, into actions: inout [NodeAction]) {
        guard let address = self.addresses[message.to] else {
            // A joining node hears from a leader it has no address for: ask its peers.
            actions.append(.lookUpAddress(message.to, among: self.addresses.values.sorted()))
            return
        }
        guard self.startsSnapshotStream(message) else { return }
        actions.append(.send(message, to: address))
    }

    /// A snapshot from the leader is installed: the state machine holds exactly its index.
    private mutating func installed(_ snapshot: SnapshotMetadata, into actions: inout [NodeAction]) {
        self.logger.info(
            "installed a snapshot from the leader", metadata: ["raft.snapshot.index": "\(snapshot.index)", "raft.snapshot.term": "\(snapshot.term)"])
        self.inboundSnapshots = [:]
        self.applied = snapshot.index
        self.applying = snapshot.index
        self.lastSnapshotIndex = snapshot.index
        // Entries deferred behind a local snapshot are in the leader's snapshot.
        self.deferredEntries.removeAll { $0.index <= snapshot.index }
        // Proposals the snapshot covers may or may not be in it.
        self.releaseProposalBytes(through: snapshot.index)
        for index in self.proposals.keys.sorted() where index <= snapshot.index {
            for proposal in self.proposals.removeValue(forKey: index)! {
                actions.append(.answer(proposal.request, .failure(RaftError(.timedOut, "outcome unknown: replaced by a snapshot"))))
            }
        }
    }

    /// Hands committed entries to the state machine.
    private mutating func apply(_ entries: [Entry], into actions: inout [NodeAction]) {
        guard let last = entries.last else { return }
        actions.append(.apply(entries))
        self.applying = last.index
    }

    /// The state machine applied `entries`; `results` holds each command's result by index.
    package mutating func applied(_ entries: [Entry], results: [UInt64: [UInt8]], now: ContinuousClock.Instant) -> [NodeAction] {
        var actions: [NodeAction] = []
        self.rememberResults(entries, results: results)
        for entry in entries {
            self.applied = entry.index
            if let bytes = self.proposalBytes.removeValue(forKey: entry.index) { self.unappliedBytes -= bytes }
            guard let waiting = self.proposals.removeValue(forKey: entry.index) else { continue }
            for proposal in waiting {
                if proposal.term == entry.term {
                    self.metrics.proposalLatency.record(duration: now - proposal.started)
                    actions.append(.answer(proposal.request, .success(results[entry.index] ?? [])))
                } else {
                    actions.append(.answer(proposal.request, .failure(RaftError(.noLeader, "leadership changed; the command was not applied"))))
                }
            }
        }
        self.serveReads(into: &actions)
        self.core.evictPayloads(keepingBytes: self.configuration.inMemoryLogBytes)
        return actions
    }

    /// Confirmed reads whose index is applied go to the state machine.
    mutating func serveReads(into actions: inout [NodeAction]) {
        guard !self.readsWaitingForApply.isEmpty else { return }
        let (ready, waiting) = self.readsWaitingForApply.partitioned { $0.index <= self.applied }
        self.readsWaitingForApply = waiting
        for read in ready { actions.append(.query(read.request, read.query)) }
    }

    /// Proposals of a lost leadership: the entries may still commit under the next leader, so the
    /// outcome is unknown.
    /// Commands this node forwarded stay: they resolve when their index applies.
    mutating func dropProposals(into actions: inout [NodeAction]) {
        self.releaseProposalBytes()
        for index in self.proposals.keys.sorted() {
            let (forwarded, own) = self.proposals[index]!.partitioned(\.forwarded)
            self.proposals[index] = forwarded.isEmpty ? nil : forwarded
            for proposal in own {
                actions.append(.answer(proposal.request, .failure(RaftError(.timedOut, "leadership was lost; the command may or may not be applied"))))
            }
        }
    }

    /// Starts a snapshot at the last index handed to the state machine once `snapshotThreshold`
    /// entries were handed over since the last one; applying pauses until it is written, or
    /// until the state machine captured a view of its state (``snapshotCaptured(_:now:)``).
    mutating func maybeSnapshot(into actions: inout [NodeAction]) {
        // A threshold near UInt64.max must not overflow: such a node never snapshots.
        let (due, overflow) = self.lastSnapshotIndex.addingReportingOverflow(self.configuration.snapshotThreshold)
        // A snapshot from the leader the core already holds covers what was applied: nothing to take.
        guard self.snapshotInFlight == nil, !overflow, self.applying >= due, self.applying > self.core.snapshot?.index ?? 0 else { return }
        let metadata: SnapshotMetadata
        do {
            metadata = try self.core.snapshotMetadata(at: self.applying)
        } catch  where error.code == .configurationUnknown {
            return  // joined later and not yet past the entry that added it: snapshot later
        } catch {
            actions.append(.fail(RaftError(.storage, "cannot take a snapshot at \(self.applying): \(error)", cause: error)))
            return
        }
        self.snapshotInFlight = metadata
        actions.append(.takeSnapshot(metadata))
    }

    /// The snapshot is durable: compact the core and the log, then apply what committed meanwhile.
    mutating func finishSnapshot(_ metadata: SnapshotMetadata, failure: RaftError?, now: ContinuousClock.Instant, into actions: inout [NodeAction]) {
        guard self.snapshotInFlight == metadata else { return }
        self.snapshotInFlight = nil
        self.snapshotViewCaptured = false
        if let failure {
            actions.append(.fail(failure))
            return
        }
        // A snapshot installed from the leader meanwhile is newer: nothing to compact. The core
        // holds the leader's snapshot from the moment it steps the message, before its Ready is
        // persisted and `installed` runs: both count.
        if metadata.index > self.lastSnapshotIndex, metadata.index > self.core.snapshot?.index ?? 0 {
            do {
                try self.core.compact(snapshotAt: metadata.index, trailingEntries: self.trailingEntries(behind: metadata.index, now: now))
            } catch {
                actions.append(.fail(RaftError(.storage, "cannot compact the log after the snapshot at \(metadata.index): \(error)", cause: error)))
                return
            }
            if self.core.firstIndex > 1 { actions.append(.compactLog(through: self.core.firstIndex - 1)) }
            self.lastSnapshotIndex = metadata.index
        }
        let deferred = self.deferredEntries
        self.deferredEntries = []
        self.apply(deferred, into: &actions)
        self.maybeSnapshot(into: &actions)
    }

    /// Whether committed entries wait for the snapshot in flight: until the state machine has
    /// captured the state it writes.
    var defersApplies: Bool { self.snapshotInFlight != nil && !self.snapshotViewCaptured }

    /// The state machine captured the state at `metadata` (a copy-on-write view, see
    /// ``StateMachine/snapshotView()``) and writes it while applying goes on: the entries that
    /// waited for it are applied now. Its ``NodeInput/snapshotWritten(_:failure:)`` still follows.
    package mutating func snapshotCaptured(_ metadata: SnapshotMetadata, now: ContinuousClock.Instant) -> [NodeAction] {
        guard self.snapshotInFlight == metadata, !self.snapshotViewCaptured else { return [] }
        self.snapshotViewCaptured = true
        var actions: [NodeAction] = []
        let deferred = self.deferredEntries
        self.deferredEntries = []
        self.apply(deferred, into: &actions)
        self.drive(now: now, into: &actions)
        return actions
    }
}
