import RaftCore
import Rafty

extension NodeSimulation {
    /// Starts (or restarts) a node from its disk through the runtime's recovery: the newest
    /// snapshot the state machine accepts, then ``NodeRecovery/reconcile(log:stable:snapshot:logger:)``.
    mutating func start(_ id: NodeID) {
        let index = self.index(id)
        var host = self.hosts[index]
        let configuration = self.configurations[index]
        var snapshot: SnapshotMetadata?
        host.machine = Workload.Machine()
        do {
            for candidate in try host.snapshots.list() {
                let bytes = try host.snapshots.open(candidate).readAll()
                if let machine = try? Workload.Machine(snapshot: bytes) {
                    host.machine = machine
                    snapshot = candidate.metadata
                    break
                }
            }
            guard let membership = host.stable.state.configuration else {
                self.fail("node \(id) lost its stored configuration")
                return
            }
            let state = try NodeRecovery.reconcile(
                log: host.log, stable: host.stable, snapshot: snapshot, residentBytes: configuration.inMemoryLogBytes,
                logger: configuration.logger)
            host.engine = try NodeEngine(
                configuration: configuration, address: configuration.address, peerAddresses: configuration.peers,
                addresses: membership.addresses.filter { $0.key != id }, peerRoles: [:], membership: membership,
                restoring: state, metrics: .discarding(nodeID: id), logger: configuration.logger, now: self.localNow(id),
                randomSeed: self.seed &+ id &* 7919 &+ UInt64(host.incarnation))
        } catch {
            self.fail("node \(id) cannot restart from its disk: \(error)")
            return
        }
        host.machineIndex = snapshot?.index ?? 0
        host.incarnation += 1
        host.frozen = false
        host.queued = []
        host.queuedRequests = []
        host.waiting = [:]
        host.stopping = false
        host.crashAtNextPersist = false
        host.snapshotInFlight = nil
        self.hosts[index] = host
        self.events.push(.wake(id, incarnation: host.incarnation), at: self.now + Self.tick * 1000 / host.rate)
        self.feed(id, [])
    }

    /// The process dies: everything but the disk is lost; its callers see the connection drop.
    mutating func crash(_ id: NodeID) {
        let index = self.index(id)
        guard self.hosts[index].isUp else { return }
        self.report.crashes += 1
        for (_, waiting) in self.hosts[index].waiting.sorted(by: { $0.key < $1.key }) { self.connectionLost(waiting.op, at: id, from: waiting.from) }
        for queued in self.hosts[index].queuedRequests { self.connectionLost(queued.op, at: id, from: queued.from) }
        // Its own clients, whatever their request was waiting for (a forward to the leader too).
        for op in self.operations.indices where !self.operations[op].done && self.operations[op].origin == id {
            self.clientAnswer(op, .failure(RaftError(.timedOut, "the connection dropped")))
        }
        self.hosts[index].engine = nil
        self.hosts[index].waiting = [:]
        self.hosts[index].queuedRequests = []
        self.hosts[index].queued = []
        self.hosts[index].snapshotInFlight = nil
        self.events.push(.restart(id), at: self.now + self.random(50_000...500_000))
    }

    /// The node's disk is lost: it crashes and comes back under its id with empty stores, the
    /// first membership and a new incarnation (an operator restarting it as it was first started).
    mutating func wipe(_ id: NodeID) {
        let index = self.index(id)
        self.crash(id)
        self.report.wipes += 1
        self.hosts[index].log = InMemoryLogStore()
        self.hosts[index].identity = NodeIdentity(clusterID: 1, incarnation: self.random(1...UInt64.max))
        self.hosts[index].stable = InMemoryStableStore(state: StableState(nodeID: id, configuration: self.initialMembership))
        self.hosts[index].snapshots = try! InMemorySnapshotStore(retainCount: 2)
        self.hosts[index].wiped = true
    }

    /// A graceful stop has run its course: the engine answers what waits, the node goes down.
    mutating func finishStop(_ id: NodeID) {
        let index = self.index(id)
        let actions = self.hosts[index].engine!.failAll(RaftError(.shuttingDown, "the node stopped"))
        self.execute(id, actions)
        for (_, waiting) in self.hosts[index].waiting.sorted(by: { $0.key < $1.key }) {
            self.answer(id, op: waiting.op, from: waiting.from, .failure(RaftError(.shuttingDown, "the node stopped")))
        }
        self.hosts[index].waiting = [:]
        // A snapshot being written finishes before the stores close (the runtime awaits it).
        if self.hosts[index].snapshotInFlight != nil { self.storeLocalSnapshot(id) }
        self.hosts[index].engine = nil
        self.events.push(.restart(id), at: self.now + self.random(50_000...300_000))
    }

    /// Carries out a node's actions in order, as `NodeLoop` does. Stops if the node crashes.
    mutating func execute(_ id: NodeID, _ actions: [NodeAction]) {
        let index = self.index(id)
        for action in actions {
            guard self.hosts[index].isUp, self.report.failure == nil else { return }
            switch action {
            case .send(let message, let address):
                self.send(message, from: id, to: address)
            case .lookUpAddress:
                break  // every node knows every address
            case .persist(let steps):
                guard self.persist(id, steps) else { return }
                self.execute(id, self.hosts[index].engine!.persisted(now: self.localNow(id)))
            case .apply(let entries):
                let results = self.apply(id, entries)
                guard self.report.failure == nil else { return }
                self.execute(id, self.hosts[index].engine!.applied(entries, results: results, now: self.localNow(id)))
            case .query(let request, let query):
                guard let waiting = self.hosts[index].waiting.removeValue(forKey: request) else { continue }
                self.answer(id, op: waiting.op, from: waiting.from, self.query(id, query))
            case .answer(let request, let answer):
                guard let waiting = self.hosts[index].waiting.removeValue(forKey: request) else { continue }
                self.answer(id, op: waiting.op, from: waiting.from, answer)
            case .takeSnapshot(let metadata):
                guard self.hosts[index].machineIndex == metadata.index else {
                    self.fail("node \(id) was asked for a snapshot at \(metadata.index) with its state machine at \(self.hosts[index].machineIndex)")
                    return
                }
                self.report.snapshotsTaken += 1
                let bytes = self.hosts[index].machine.snapshot()
                self.hosts[index].snapshotInFlight = (metadata, bytes)
                // Written off the loop: entries that commit meanwhile wait, or, with the state
                // captured (the bytes above), are applied at once.
                self.events.push(
                    .snapshotWritten(id, incarnation: self.hosts[index].incarnation, metadata, bytes), at: self.now + self.random(1_000...40_000))
                if self.capturesSnapshots {
                    self.report.snapshotsCaptured += 1
                    self.execute(id, self.hosts[index].engine!.snapshotCaptured(metadata, now: self.localNow(id)))
                }
            case .compactLog(let through):
                do {
                    try self.hosts[index].log.compactPrefix(through: through)
                } catch {
                    self.fail("node \(id) cannot compact its log through \(through): \(error)")
                }
            case .fail(let error):
                self.fail("node \(id) failed: \(error)")
            }
        }
    }

    /// Runs storage steps one by one; a crash armed for this node falls between two of them (or
    /// after the last, before the engine hears of it). Returns whether the node is still up.
    mutating func persist(_ id: NodeID, _ steps: [StorageStep]) -> Bool {
        let index = self.index(id)
        var crashBefore: Int?
        if self.hosts[index].crashAtNextPersist {
            crashBefore = Int(self.random(0...UInt64(steps.count)))
        }
        let host = self.hosts[index]
        for (number, step) in steps.enumerated() {
            if crashBefore == number {
                self.report.crashesBetweenSteps += 1
                self.crash(id)
                return false
            }
            do {
                if try step.perform(log: host.log, stable: host.stable) { continue }
                switch step {
                case .storeSnapshot(let metadata, let received):
                    if self.hosts[index].snapshotInFlight != nil { self.storeLocalSnapshot(id) }  // lands first, as in the runtime
                    guard case .bytes(let bytes) = received else {
                        self.fail("node \(id) was handed a spooled snapshot; the simulation sends bytes")
                        return false
                    }
                    try host.snapshots.store(bytes, for: metadata)
                case .restoreSnapshot(let metadata):
                    guard let reader = try host.snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index,
                        case let bytes = try reader.readAll(), let machine = try? Workload.Machine(snapshot: bytes)
                    else {
                        self.fail("node \(id) cannot restore snapshot \(metadata.index)")
                        return false
                    }
                    if let expected = self.committed[metadata.index], expected.term != metadata.term {
                        self.fail("node \(id) installs a snapshot at \(metadata.index) of term \(metadata.term); term \(expected.term) committed there")
                    }
                    self.hosts[index].machine = machine
                    self.hosts[index].machineIndex = metadata.index
                    self.report.snapshotsInstalled += 1
                default:
                    break
                }
            } catch {
                self.fail("node \(id) storage step \(step) failed: \(error)")
                return false
            }
        }
        if crashBefore == steps.count {
            self.report.crashesBetweenSteps += 1
            self.crash(id)
            return false
        }
        return true
    }

    mutating func storeLocalSnapshot(_ id: NodeID) {
        let index = self.index(id)
        guard let (metadata, bytes) = self.hosts[index].snapshotInFlight else { return }
        self.hosts[index].snapshotInFlight = nil
        do {
            try self.hosts[index].snapshots.store(bytes, for: metadata)
        } catch {
            self.fail("node \(id) cannot store its snapshot at \(metadata.index): \(error)")
        }
    }

    /// Applies entries to the node's state machine, checking each against what committed there.
    mutating func apply(_ id: NodeID, _ committed: [Entry]) -> [UInt64: [UInt8]] {
        let index = self.index(id)
        var results: [UInt64: [UInt8]] = [:]
        // As NodeLoop does: commands loaded as placeholders at start-up are read back first.
        let entries: [Entry]
        do {
            entries = try self.hosts[index].log.hydrating(committed)
        } catch {
            self.fail("node \(id) cannot read back committed entries: \(error)")
            return results
        }
        if entries != committed { self.report.hydratedApplies += 1 }
        for entry in entries {
            guard entry.index == self.hosts[index].machineIndex + 1 else {
                self.fail("node \(id) applies index \(entry.index) after \(self.hosts[index].machineIndex)")
                return results
            }
            if let expected = self.committed[entry.index] {
                if expected != entry {
                    self.fail(
                        "node \(id) applies an entry at \(entry.index) (term \(entry.term)) that differs from the one applied elsewhere (term \(expected.term))"
                    )
                    return results
                }
            } else {
                self.committed[entry.index] = entry
            }
            self.hosts[index].machineIndex = entry.index
            if case .command(let bytes) = entry.payload {
                results[entry.index] = self.hosts[index].machine.apply(CommittedCommand(index: entry.index, term: entry.term, bytes: bytes))
            }
        }
        return results
    }

    /// A peer message leaves: late, lost, or cut off by a partition. A snapshot carries the
    /// sender's stored snapshot of that index, read as the runtime does (none: not sent).
    mutating func send(_ message: Message, from id: NodeID, to address: String) {
        let arrival = self.transmit(message, from: id, to: address)
        // As NodeLoop does, the sender hears when a snapshot transfer is over (here: when it
        // arrives whole, or at once if it was lost).
        if case .installSnapshot(let metadata) = message.body {
            let incarnation = self.hosts[self.index(id)].incarnation
            self.events.push(
                .snapshotSent(id, incarnation: incarnation, to: message.to, index: metadata.index, delivered: arrival?.whole ?? false),
                at: arrival?.time ?? self.now + 1)
        }
    }

    /// Puts a message on the wire; returns when it arrives and whether a snapshot travels with
    /// it, nil if it is lost.
    private mutating func transmit(_ message: Message, from id: NodeID, to address: String) -> (time: UInt64, whole: Bool)? {
        guard let to = Self.node(at: address), !self.blocked.contains([id, to]) else { return nil }
        guard !self.chance(self.lossPercent) else { return nil }
        var message = message
        if let range = message.evictedRange {
            // As NodeLoop does: evicted commands are read back from the sender's log store.
            self.report.hydratedAppends += 1
            guard let stored = try? self.hosts[self.index(id)].log.entries(in: range.lowerBound..<(range.upperBound + 1), maxBytes: .max),
                let hydrated = message.hydrating(stored)
            else { return nil }
            message = hydrated
        }
        if case .forwardedProposals(let batch) = message.body { self.report.forwarded += batch.commands.count }
        var snapshot: [UInt8]?
        if case .installSnapshot(let metadata) = message.body {
            guard let reader = try? self.hosts[self.index(id)].snapshots.openNewest(), reader.snapshot.metadata.index == metadata.index,
                let bytes = try? reader.readAll()
            else { return nil }
            snapshot = bytes
            if self.chance(10) {
                snapshot = nil
                self.report.snapshotsWithoutBytes += 1
            }
        }
        let identity = self.hosts[self.index(id)].identity
        let credentials = PeerCredentials(clusterID: identity.clusterID, incarnation: identity.incarnation)
        let time = self.now + self.random(500...4_000) + (self.slowLinks[[id, to]] ?? 0)
        self.events.push(.deliver(to, message, snapshot: snapshot, credentials: credentials), at: time)
        return (time, snapshot != nil)
    }

    /// The node's state machine answers a query (a failure is a refusal, as NodeLoop answers it).
    func query(_ id: NodeID, _ query: [UInt8]) -> RaftNode.Answer {
        do {
            return .success(try self.hosts[self.index(id)].machine.query(query))
        } catch {
            return .failure(RaftError(.rejected, "query failed: \(error)"))
        }
    }
}
