import CoreMetrics
import Logging
import Metrics
import RaftCore
import Synchronization

extension NodeLoop {
    /// Carries out the engine's actions in order; a completion (persisted, applied) is reported
    /// as soon as its work is done and the actions it yields run before the rest.
    mutating func execute(_ actions: [NodeAction]) async throws {
        for action in actions {
            switch action {
            case .send(let message, let address):
                await self.send(message, to: address)
            case .lookUpAddress(let id, let among):
                self.node.lookUpAddress(of: id, among: among)
            case .persist(let steps):
                let started = ContinuousClock.now
                try await self.persist(steps)
                let elapsed = ContinuousClock.now - started
                self.engine!.metrics.fsyncLatency.record(duration: elapsed)
                if elapsed >= Self.slowWarning { self.warnSlow("persisting a Ready (writes and fsync)", elapsed) }
                try await self.execute(self.engine!.persisted(now: self.now))
            case .apply(let entries):
                let started = ContinuousClock.now
                let results = try await self.apply(entries)
                let elapsed = ContinuousClock.now - started
                if elapsed >= Self.slowWarning { self.warnSlow("applying \(entries.count) entries", elapsed) }
                try await self.execute(self.engine!.applied(entries, results: results, now: self.now))
            case .query(let request, let query):
                guard let waiter = self.waiters.removeValue(forKey: request) else { continue }
                do {
                    waiter.resume(returning: .success(try await self.node.stateMachine.query(query)))
                } catch {
                    waiter.resume(returning: .failure(RaftError(.rejected, "query failed: \(error)")))
                }
            case .answer(let request, let answer):
                self.waiters.removeValue(forKey: request)?.resume(returning: answer)
            case .takeSnapshot(let metadata):
                // The state machine is at exactly `metadata.index` now (the actions run in order):
                // a view captured here lets applying go on while it is written.
                let view: (any StateMachineSnapshot)?
                do {
                    view = try await self.node.stateMachine.snapshotView()
                } catch {
                    self.node.enqueue(
                        .snapshotWritten(
                            metadata,
                            failure: RaftError(
                                .stateMachine, "cannot take a snapshot at \(metadata.index): the state machine could not capture its state: \(error)",
                                cause: error)))
                    continue
                }
                self.takeSnapshot(metadata, view: view)
                if view != nil { try await self.execute(self.engine!.snapshotCaptured(metadata, now: self.now)) }
            case .compactLog(let index):
                do {
                    try self.storage.log.compactPrefix(through: index)
                } catch {
                    throw RaftError(.storage, "cannot compact the log through \(index): \(error)", cause: error)
                }
            case .fail(let error):
                throw error
            }
        }
    }

    /// A persist or apply this slow delays heartbeats and answers: worth an operator's look.
    static let slowWarning: Duration = .seconds(1)

    /// Logs a slow persist or apply, at most once every 10 s.
    mutating func warnSlow(_ what: String, _ elapsed: Duration) {
        let now = ContinuousClock.now
        if let last = self.lastSlowWarning, now - last < .seconds(10) { return }
        self.lastSlowWarning = now
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        self.logger.warning("slow storage or state machine: \(what) took \(milliseconds) ms (heartbeats and answers wait meanwhile)")
    }

    func send(_ message: Message, to address: String) async {
        if case .installSnapshot(let metadata) = message.body {
            // Reading a large snapshot would stall the loop (heartbeats, elections): read and send
            // it from its own task. If it was replaced meanwhile, the leader retries later.
            // The engine hears when the transfer is over (it starts no other to this peer meanwhile).
            // Not on `blockingWork`: seconds of chunking and checksumming there would hold up the
            // WAL's fsyncs, and with them the heartbeats (a leader lost its lead so).
            let snapshots = self.storage.snapshots
            let node = self.node
            Task {
                var delivered = false
                if let reader = try? snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index {
                    // Streamed from the store by transports that can (GRPCTransport): never held whole.
                    delivered = await node.transport.sendSnapshot(message, from: SnapshotSource(reader), to: address)
                }
                node.enqueue(.snapshotSent(to: message.to, index: metadata.index, delivered: delivered))
            }
            return
        }
        if let range = message.evictedRange {
            // An append to a follower behind the in-memory log: its commands are read back from
            // the log store (at most about one message's worth, usually from the page cache), in
            // order with this peer's other messages. If they were compacted meanwhile the append
            // is dropped; the leader retries, or sends a snapshot.
            let log = self.storage.log
            let hydrated = await withTaskExecutorPreference(self.logReads) { () -> Message? in
                guard let stored = try? log.entries(in: range.lowerBound..<(range.upperBound + 1), maxBytes: .max) else { return nil }
                return message.hydrating(stored)
            }
            guard let hydrated else { return }
            await self.node.transport.send(hydrated, snapshot: nil, to: address)
            return
        }
        await self.node.transport.send(message, snapshot: nil, to: address)
    }

    /// Carries out storage steps in order (see ``NodeEngine/storageSteps(for:)`` for why this order).
    mutating func persist(_ steps: [StorageStep]) async throws {
        if steps.allSatisfy(\.touchesOnlyLogAndStableState) {
            // The common Ready (new entries, perhaps term and vote): on the WAL's own thread.
            let log = self.storage.log
            let stable = self.storage.stable
            do {
                try await withTaskExecutorPreference(self.walWrites) {
                    for step in steps { _ = try step.perform(log: log, stable: stable) }
                }
            } catch {
                throw RaftError(.storage, "cannot persist: \(error)", cause: error)
            }
            return
        }
        do {
            for step in steps {
                if case .saveStableState(let state) = step, let membership = state.configuration { try self.formCluster(membership) }
                if try step.perform(log: self.storage.log, stable: self.storage.stable) { continue }
                switch step {
                case .storeSnapshot(let metadata, let received):
                    // A local snapshot still being written must land first: the store orders by index.
                    if let task = self.snapshotTask { await task.value }
                    let snapshots = self.storage.snapshots
                    // Checksums, copies and fsyncs of a large snapshot run on their own thread.
                    try await withTaskExecutorPreference(self.blockingWork) {
                        switch received {
                        case .spooled(let spooled):
                            guard spooled.metadata == metadata else {
                                throw RaftError(
                                    .storage,
                                    "the received snapshot is \(spooled.metadata.index)/\(spooled.metadata.term), not \(metadata.index)/\(metadata.term)")
                            }
                            _ = try spooled.commit()
                        case .bytes(let bytes):
                            try snapshots.store(bytes, for: metadata)
                        }
                    }
                case .restoreSnapshot(let metadata):
                    let snapshots = self.storage.snapshots
                    let machine = self.node.stateMachine
                    try await withTaskExecutorPreference(self.blockingWork) {
                        do {
                            guard let reader = try snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index else {
                                throw RaftError(.storage, "snapshot \(metadata.index) is not the newest stored one")
                            }
                            try await machine.restore(from: SnapshotInput(reader))
                        } catch {
                            // Start-up falls back to the previous snapshot; the log is still intact.
                            throw RaftError(.stateMachine, "cannot restore the state machine from snapshot \(metadata.index): \(error)", cause: error)
                        }
                    }
                default:
                    break
                }
            }
        } catch let error as RaftError {
            throw error
        } catch {
            throw RaftError(.storage, "cannot persist: \(error)", cause: error)
        }
    }

    /// Applies committed entries; returns each command's result by index.
    ///
    /// Commands loaded as placeholders at start-up are read back from the log store a run of
    /// about ``NodeRecovery/readBytes`` at a time, so re-applying a long log never holds it whole.
    func apply(_ entries: [Entry]) async throws -> [UInt64: [UInt8]] {
        guard entries.contains(where: { if case .evictedCommand = $0.payload { true } else { false } }) else {
            return try await self.applyResident(entries[...])
        }
        let log = self.storage.log
        var results: [UInt64: [UInt8]] = [:]
        var start = entries.startIndex
        while start < entries.endIndex {
            var end = start
            var bytes = 0
            repeat {
                bytes += entries[end].byteSize
                end += 1
            } while end < entries.endIndex && bytes < NodeRecovery.readBytes
            let run = entries[start..<end]
            let hydrated: [Entry]
            do {
                hydrated = try await withTaskExecutorPreference(self.logReads) { try log.hydrating(run) }
            } catch {
                throw RaftError(.storage, "cannot read back committed entries \(run.first!.index)...\(run.last!.index) to apply them: \(error)", cause: error)
            }
            results.merge(try await self.applyResident(hydrated[...]), uniquingKeysWith: { _, new in new })
            start = end
        }
        return results
    }

    private func applyResident(_ entries: ArraySlice<Entry>) async throws -> [UInt64: [UInt8]] {
        var commands: [CommittedCommand] = []
        for entry in entries {
            switch entry.payload {
            case .command(let bytes):
                commands.append(CommittedCommand(index: entry.index, term: entry.term, bytes: bytes))
            case .evictedCommand:
                // Skipping it would lose a committed command on this node.
                throw RaftError(.storage, "committed entry \(entry.index) reached the state machine without its command")
            case .noop, .configuration:
                break
            }
        }
        guard !commands.isEmpty else { return [:] }
        let output: [[UInt8]]
        do {
            output = try await self.node.stateMachine.apply(commands)
        } catch {
            throw RaftError(.stateMachine, "the state machine failed to apply entries \(commands[0].index)...: \(error)", cause: error)
        }
        var results: [UInt64: [UInt8]] = [:]
        for (command, result) in zip(commands, output) { results[command.index] = result }
        return results
    }

    /// The state machine writes its snapshot from a task of its own (a large state would
    /// otherwise hold up heartbeats past the election timeout): the captured `view`, or its live
    /// state while the engine defers applying until it reports back.
    mutating func takeSnapshot(_ metadata: SnapshotMetadata, view: (any StateMachineSnapshot)?) {
        let snapshots = self.storage.snapshots
        let machine = self.node.stateMachine
        let node = self.node
        let logger = self.logger
        self.snapshotTask = Task(executorPreference: self.blockingWork) {
            var failure: RaftError?
            let started = ContinuousClock.now
            defer {
                if let failure {
                    logger.error("\(failure.message)")
                } else {
                    logger.info(
                        "snapshot written",
                        metadata: ["raft.snapshot.index": "\(metadata.index)", "raft.snapshot.duration": "\(ContinuousClock.now - started)"])
                }
            }
            do {
                let writer = try snapshots.makeWriter(for: metadata)
                do {
                    let output = SnapshotOutput { bytes in try writer.write(bytes) }
                    if let view { try await view.write(to: output) } else { try await machine.snapshot(to: output) }
                    _ = try writer.commit()
                } catch {
                    writer.abort()
                    throw error
                }
            } catch {
                // The store's errors are storage failures, even when the state machine passes
                // them on; anything else is the state machine's own.
                failure = RaftError(
                    error is StorageError ? .storage : .stateMachine, "cannot take a snapshot at \(metadata.index): \(error)", cause: error)
            }
            node.enqueue(.snapshotWritten(metadata, failure: failure))
        }
    }

    /// Forgets the incarnations of members the committed membership no longer lists (see
    /// ``NodeIdentity``), so that they may come back with new data once added again, and closes
    /// the transport's connections to them.
    mutating func forgetRemovedMembers(_ committed: ClusterConfiguration) {
        guard
            committed.voters.count + committed.learners.count != self.committedMembers.count
                || !self.committedMembers.allSatisfy(committed.contains)
        else { return }
        let removed = self.committedMembers.filter { !committed.contains($0) }
        self.node.unlearnedPeers.withLock { $0.formUnion(removed) }
        self.committedMembers = Set(committed.members)
        // Their connections close too (unless a current member took over the address).
        let kept = Set(committed.addresses.values)
        for member in removed {
            if let address = self.committedAddresses[member], !kept.contains(address) { self.node.transport.disconnect(from: address) }
        }
        self.committedAddresses = committed.addresses
        guard !removed.isEmpty else { return }
        do {
            try self.storage.identity.update { $0.forget(removed) }
        } catch {
            self.logger.error("cannot forget the incarnations of removed members \(removed.sorted()): \(error)")
        }
    }

    /// Takes the incarnations the newest configuration records as the ones its members must
    /// present (``NodeIdentity/record(_:except:)``).
    mutating func recordMemberIncarnations(_ configuration: ClusterConfiguration) {
        guard configuration.incarnations != self.recordedIncarnations else { return }
        do {
            try self.storage.identity.update { $0.record(configuration, except: self.node.configuration.id) }
            self.recordedIncarnations = configuration.incarnations
        } catch {
            self.logger.error("cannot record the members' incarnations: \(error)")
        }
    }

    /// This node's incarnation and those its identity knows of its peers.
    var knownIncarnations: [NodeID: UInt64] {
        let identity = self.storage.identity.identity
        var incarnations = identity.peerIncarnations
        incarnations[self.node.configuration.id] = identity.incarnation
        return incarnations
    }

    /// Publishes the status for ``RaftNode/status`` and the gauges.
    mutating func publish() {
        // Fields are read through `self.engine!` one by one: binding the engine to a constant
        // copied all of it on every loop iteration.
        guard self.hasEngine else {
            self.node.publish { $0.state = .follower }
            return
        }
        let core = self.engine!.core
        let applied = self.engine!.applied
        let addresses = self.engine!.addresses
        let lastLeaderContact = self.engine!.lastLeaderContact
        self.forgetRemovedMembers(core.committedConfiguration)
        self.recordMemberIncarnations(core.configuration)
        self.node.unlearnedPeers.withLock { peers in
            if !peers.isEmpty { peers = peers.filter { !core.configuration.contains($0) } }
        }
        let metrics = self.engine!.metrics
        metrics.term.record(Double(core.term))
        metrics.commitIndex.record(Double(core.commitIndex))
        metrics.appliedIndex.record(Double(applied))
        let state: Double =
            switch core.role {
            case .follower: core.isVoter ? 0 : 3
            case .preCandidate, .candidate: 1
            case .leader: 2
            }
        metrics.state.record(state)
        let matchIndex = core.role == .leader ? core.status.matchIndex : [:]
        for (peer, match) in matchIndex {
            self.engine!.metrics.recordLag(of: peer, core.lastIndex - min(match, core.lastIndex))
        }
        let id = self.node.configuration.id
        let address = self.node.address
        let now = self.now
        let view = MemberView(
            id: id, address: address, configuration: core.configuration, committed: core.committedConfiguration,
            addresses: addresses, lastHeard: self.engine!.lastHeard, matchIndex: matchIndex, now: now,
            reachableWindow: self.engine!.electionTimeout * 2)
        self.node.publish(members: view) { status in
            switch core.role {
            case .leader: status.state = .leader
            case .candidate, .preCandidate: status.state = .candidate
            case .follower:
                // A node outside the configuration (joining, or removed) is a follower that never campaigns.
                status.state = core.isVoter || !core.configuration.contains(id) ? .follower : .readOnly
            }
            status.term = core.term
            status.commitIndex = core.commitIndex
            status.lastApplied = applied
            status.leader = core.leader.map { leader in
                RaftNode.Status.Leader(id: leader, address: (leader == id ? address : addresses[leader]) ?? "")
            }
            status.lastLeaderContact = core.leader == id ? now : lastLeaderContact
            status.isMember = core.configuration.contains(id)
            status.lastIndex = core.lastIndex
        }
    }
}
