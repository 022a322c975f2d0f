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
                try self.persist(ready)
                self.metrics.fsyncLatency.record(duration: ContinuousClock.now - started)
                if !ready.entries.isEmpty { self.metrics.appendBatchSize.record(ready.entries.count) }
            } else {
                try self.persist(ready)
            }
            for message in ready.persistedMessages { await self.send(message) }
            if let snapshot = ready.snapshot { try await self.installSnapshot(snapshot) }
            try await self.apply(ready.committedEntries)
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
            try await self.maybeSnapshot()
        }
    }

    func send(_ message: Message) async {
        guard let address = self.addresses[message.to] else {
            // A joining node hears from a leader it has no address for: ask its peers.
            self.node.lookUpAddress(of: message.to, among: Array(self.addresses.values))
            return
        }
        var snapshot: [UInt8]?
        if case .installSnapshot(let metadata) = message.body {
            // Stream the stored snapshot; if it was replaced meanwhile the leader retries later.
            guard let reader = try? self.storage.snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index,
                let bytes = try? reader.readAll()
            else { return }
            snapshot = bytes
        }
        await self.node.transport.send(message, snapshot: snapshot, to: address)
    }

    func persist(_ ready: Ready) throws {
        do {
            if let snapshot = ready.snapshot {
                guard let bytes = self.inboundSnapshots[snapshot.index] else {
                    throw RaftError(.storage, "snapshot \(snapshot.index) arrived without its bytes")
                }
                let writer = try self.storage.snapshots.makeWriter(for: snapshot)
                try writer.write(bytes)
                _ = try writer.commit()
                try self.storage.log.compactPrefix(through: snapshot.index)
            }
            if let first = ready.entries.first {
                if first.index <= self.storage.log.lastIndex { try self.storage.log.truncateSuffix(from: first.index) }
                try self.storage.log.append(ready.entries)
            }
            // Term and vote must be durable before any message that depends on them. The commit
            // index need not be (a restarted node learns it again from the leader), and saving it
            // on every commit would cost an atomic file replacement per command.
            if let hard = ready.hardState {
                var state = self.storage.stable.state
                if state.hardState.term != hard.term || state.hardState.vote != hard.vote {
                    state.hardState = hard
                    try self.storage.stable.save(state)
                }
            }
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot persist: \(error)")
        }
    }

    mutating func installSnapshot(_ snapshot: SnapshotMetadata) async throws {
        guard self.inboundSnapshots.removeValue(forKey: snapshot.index) != nil else { return }
        self.inboundSnapshots = [:]
        do {
            // `persist` stored the bytes; the state machine streams them back from the store.
            guard let reader = try self.storage.snapshots.openNewest(), reader.snapshot.metadata.index == snapshot.index else {
                throw RaftError(.storage, "snapshot \(snapshot.index) is not the newest stored one")
            }
            try await self.node.stateMachine.restore(from: SnapshotInput(reader))
        } catch {
            throw RaftError(.storage, "cannot restore the state machine from snapshot \(snapshot.index): \(error)")
        }
        self.applied = snapshot.index
        self.lastSnapshotIndex = snapshot.index
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
                throw RaftError(.storage, "the state machine failed to apply entries \(commands[0].index)...: \(error)")
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

    mutating func maybeSnapshot() async throws {
        let configuration = self.node.configuration
        guard var core = self.core, self.applied >= self.lastSnapshotIndex + configuration.snapshotThreshold else { return }
        do {
            try core.compact(snapshotAt: self.applied, trailingEntries: configuration.trailingLogs)
        } catch where error.code == .configurationUnknown {
            return  // joined later and not yet past the entry that added it: snapshot later
        } catch {
            throw RaftError(.storage, "cannot take a snapshot at \(self.applied): \(error)")
        }
        do {
            let writer = try self.storage.snapshots.makeWriter(for: core.snapshot!)
            do {
                try await self.node.stateMachine.snapshot(to: SnapshotOutput { bytes in try writer.write(bytes) })
            } catch {
                writer.abort()
                throw error
            }
            _ = try writer.commit()
            if core.firstIndex > 1 { try self.storage.log.compactPrefix(through: core.firstIndex - 1) }
        } catch {
            throw RaftError(.storage, "cannot take a snapshot at \(self.applied): \(error)")
        }
        self.core = core
        self.lastSnapshotIndex = self.applied
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
