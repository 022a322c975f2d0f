import RaftCore

extension Simulation {
    struct ClientState: Sendable {
        var currentOperation: Int?
        var preferredNode: NodeID
        /// A pinned reader only reads, always from the same node: it keeps asking a stale leader.
        var pinnedReader = false
        /// A leader chaser only writes, always to the running leader of the highest term (a client
        /// whose discovery is perfect): it commits new values as soon as a new leader can.
        var chasesLeader = false
        /// Ticks after which the client gives up on an operation (its outcome is then unknown).
        var timeoutTicks = 20
        var active = true
    }

    /// Starts `count` clients that each issue one operation at a time (read, write or
    /// compare-and-set on `keys` keys) against random nodes, plus `pinnedReaders` clients that only
    /// read, each always from the same node; all record one history.
    public mutating func startClients(_ count: Int, keys: Int = 3, pinnedReaders: Int = 0) {
        self.clientKeys = keys
        for client in 0..<(count + pinnedReaders) {
            var state = ClientState(preferredNode: UInt64(client % self.options.nodeCount) + 1)
            state.pinnedReader = client >= count
            self.clients.append(state)
            self.queue.push(.clientStep(client: client), at: self.now + UInt64.random(in: 1...50, using: &self.rng))
        }
    }

    /// Starts `count` clients that only write, each always to the running leader of the highest term,
    /// giving up on a write after `timeoutTicks` (so a write stuck at a deposed leader does not hold
    /// them back).
    public mutating func startLeaderChasers(_ count: Int, timeoutTicks: Int = 1) {
        for _ in 0..<count {
            var state = ClientState(preferredNode: 1)
            state.chasesLeader = true
            state.timeoutTicks = timeoutTicks
            self.clients.append(state)
            self.queue.push(.clientStep(client: self.clients.count - 1), at: self.now + UInt64.random(in: 1...50, using: &self.rng))
        }
    }

    /// Pauses or resumes the leader chasers (a paused chaser finishes its current write first).
    public mutating func setLeaderChasersActive(_ active: Bool) {
        for client in self.clients.indices where self.clients[client].chasesLeader {
            let resume = active && !self.clients[client].active && self.clients[client].currentOperation == nil
            self.clients[client].active = active
            if resume { self.queue.push(.clientStep(client: client), at: self.now + UInt64.random(in: 1...20, using: &self.rng)) }
        }
    }

    /// Stops issuing new operations (those in flight still complete or time out).
    public mutating func stopClients() {
        for client in self.clients.indices { self.clients[client].active = false }
    }

    /// The recorded client history; operations still in flight are reported as unknown.
    public var clientHistory: [HistoryEntry] { self.history.entries }

    var clientKeys: Int {
        get { self.workloadKeys }
        set { self.workloadKeys = newValue }
    }

    mutating func clientStep(_ client: Int) {
        guard self.clients[client].active, self.clients[client].currentOperation == nil else { return }
        let key = "k\(Int.random(in: 0..<self.clientKeys, using: &self.rng))"
        let operation: KVOperation
        let kind = self.clients[client].pinnedReader ? 0 : self.clients[client].chasesLeader ? 5 : Int.random(in: 0..<10, using: &self.rng)
        switch kind {
        case 0..<4:
            operation = .read(key: key)
        case 4..<8:
            operation = .write(key: key, value: self.nextValue)
            self.nextValue += 1
        default:
            let expected: Int? =
                self.nextValue > 1 && Bool.random(using: &self.rng)
                ? Int.random(in: max(1, self.nextValue - 5)..<self.nextValue, using: &self.rng) : nil
            operation = .cas(key: key, expected: expected, new: self.nextValue)
            self.nextValue += 1
        }
        // Mostly go to the node that last worked, sometimes anywhere (a client that lost track).
        var target = self.clients[client].preferredNode
        if self.clients[client].chasesLeader, let newest = self.leaders.max(by: { $0.term < $1.term }) {
            target = newest.id
        }
        if !self.clients[client].pinnedReader && !self.clients[client].chasesLeader && Int.random(in: 0..<4, using: &self.rng) == 0 {
            target = UInt64.random(in: 1...UInt64(self.options.nodeCount), using: &self.rng)
        }
        let op = self.history.invoke(client: client, operation: operation, time: self.now)
        self.clients[client].currentOperation = op
        self.operationClient[op] = client
        self.queue.push(.clientTimeout(op: op), at: self.now + UInt64(self.clients[client].timeoutTicks) * self.options.tickInterval)
        self.submit(op, operation, to: target, client: client)
    }

    mutating func submit(_ op: Int, _ operation: KVOperation, to id: NodeID, client: Int) {
        let index = Int(id - 1)
        guard self.nodes[index].isUp else {
            self.resolve(op, .failed)
            self.retarget(client)
            self.clientFinished(op: op)
            return
        }
        if self.nodes[index].frozen {
            self.nodes[index].frozenRequests.append((op, operation, client))
            return
        }
        switch operation {
        case .read(let key):
            let context = UInt64(op)
            self.nodes[index].pendingReads[context] = (op, key)
            self.nodes[index].core!.readIndex(context: context, lease: self.options.leaseReads && (self.options.onlyLeaseReads || op % 2 == 0))
        case .write, .cas:
            do {
                let (logIndex, term) = try self.nodes[index].core!.propose(KVStateMachine.encode(operation))
                self.nodes[index].pendingProposals[logIndex, default: []].append((term, op))
            } catch {
                // Refused before it reached any log: it can never take effect.
                self.resolve(op, .failed)
                if let leader = error.leader, !self.clients[client].pinnedReader {
                    self.clients[client].preferredNode = leader
                } else {
                    self.retarget(client)
                }
                self.clientFinished(op: op)
                return
            }
        }
        self.processReady(id)
    }

    mutating func retarget(_ client: Int) {
        guard !self.clients[client].pinnedReader else { return }
        // A client that lost its node picks another member of the cluster as it last knew it (the
        // committed configuration); with every slot a member that is any node.
        let members = self.committedConfiguration.members
        if members.count == self.options.nodeCount || members.isEmpty {
            self.clients[client].preferredNode = UInt64.random(in: 1...UInt64(self.options.nodeCount), using: &self.rng)
        } else {
            self.clients[client].preferredNode = members.randomElement(using: &self.rng)!
        }
    }

    mutating func resolve(_ op: Int, _ outcome: KVOutcome) {
        guard self.operationOutcome[op] == nil else { return }
        self.operationOutcome[op] = outcome
        self.history.complete(op, outcome: outcome, time: self.now)
    }

    /// The client whose operation `op` was moves on to its next operation after a short pause.
    mutating func clientFinished(op: Int) {
        guard let client = self.operationClient[op], self.clients[client].currentOperation == op else { return }
        self.clients[client].currentOperation = nil
        if self.operationOutcome[op] == .failed { self.retarget(client) }
        self.queue.push(.clientStep(client: client), at: self.now + UInt64.random(in: 1...60, using: &self.rng))
    }
}
