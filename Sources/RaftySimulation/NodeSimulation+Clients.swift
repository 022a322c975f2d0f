import RaftCore
import Rafty

extension NodeSimulation {
    /// A client sends its next operation: by its role, to a random node, its own node, or the
    /// newest leader.
    mutating func clientTurn(_ client: Int) {
        guard self.now + 300_000 < self.faultsEnd + self.settleMilliseconds * 1000 else { return }
        var origin = NodeID(self.random(1...UInt64(self.nodeCount)))
        let request: SimulatedRequest
        switch self.clientRoles[client] {
        case .pinnedReader(let node):
            origin = node
            request = self.workload.nextRequest(.read, using: &self.rng)
        case .leaderChaser:
            // Drawn before the leader is known, so the draws do not depend on whether there is one.
            let write = self.workload.nextRequest(.command, using: &self.rng)
            guard self.leaderChasersActive, let leader = self.newestLeader else {
                self.events.push(.clientTurn(client), at: self.now + Self.tick)
                return
            }
            origin = leader
            request = write
        case .random:
            request = self.workload.nextRequest(.any, using: &self.rng)
        }
        let history = self.history.count
        self.history.append(
            SimulatedHistoryEntry(id: history, client: client, request: request, invokeTime: self.now, completeTime: nil, outcome: .unknown))
        self.operations.append(Operation(client: client, request: request, origin: origin, history: history))
        self.report.operations += 1
        let op = self.operations.count - 1
        self.events.push(.request(origin, op: op, self.request(for: op), from: nil), at: self.now + self.random(100...500))
        if case .leaderChaser = self.clientRoles[client] { self.events.push(.giveUp(op: op), at: self.now + Self.tick) }
    }

    /// The running leader of the highest term, as a client with perfect discovery finds it.
    var newestLeader: NodeID? {
        self.hosts.filter { $0.isUp && !$0.frozen && $0.engine!.core.role == .leader }
            .max { $0.engine!.core.term < $1.engine!.core.term }?.id
    }

    func request(for op: Int, forwarded: Bool = false) -> NodeRequest {
        let request = self.operations[op].request
        if let consistency = request.consistency {
            // A forwarded read is served as linearizable (RaftNode.handleForwarded).
            return .read(request.bytes, forwarded ? .linearizable : consistency)
        }
        return .propose(request.bytes)
    }

    /// A request reaches a node: refused if it is down, queued if it is frozen.
    mutating func arrive(at id: NodeID, op: Int, _ request: NodeRequest, from: NodeID?) {
        let index = self.index(id)
        guard self.hosts[index].isUp else {
            if from == nil {
                self.clientAnswer(op, .failure(RaftError(.unreachable, "connection refused")))
            } else {
                self.forwardFailed(op, origin: from!)
            }
            return
        }
        if self.hosts[index].frozen {
            self.hosts[index].queuedRequests.append((op, request, from))
            return
        }
        if case .read(let query, .stale) = request {
            // As RaftNode.read does: from this node's state machine, without the loop.
            self.clientAnswer(op, self.query(id, query))
            return
        }
        self.feed(id, [self.register(at: id, op: op, request, from: from)])
    }

    /// Gives a request an id the engine answers by.
    mutating func register(at id: NodeID, op: Int, _ request: NodeRequest, from: NodeID?) -> NodeInput {
        let index = self.index(id)
        let requestID = self.hosts[index].nextRequest
        self.hosts[index].nextRequest += 1
        self.hosts[index].waiting[requestID] = (op, from)
        return .request(requestID, request, deadline: self.localNow(id) + .seconds(2))
    }

    /// A node answered a request: a client's own request (a redirect is followed, as
    /// `RaftNode.resolve` does), or one another node forwarded (the answer travels back).
    mutating func answer(_ id: NodeID, op: Int, from: NodeID?, _ answer: RaftNode.Answer) {
        guard op >= 0 else {
            // An operator's request (a transfer, a membership change): nobody waits.
            if op == Self.membershipRequest, case .changed = answer { self.report.membershipChanges += 1 }
            return
        }
        if let origin = from {
            var answer = answer
            if case .forward = answer { answer = .failure(RaftError(.notLeader, "node \(id) is no longer the leader")) }
            guard !self.blocked.contains([id, origin]), !self.chance(self.lossPercent) else {
                self.forwardFailed(op, origin: origin)
                return
            }
            self.events.push(.reply(origin: origin, op: op, answer), at: self.now + self.random(500...4_000))
            return
        }
        guard case .forward(let address) = answer, let leader = Self.node(at: address) else {
            self.clientAnswer(op, answer)
            return
        }
        guard !self.blocked.contains([id, leader]), !self.chance(self.lossPercent) else {
            self.forwardFailed(op, origin: id)
            return
        }
        self.report.forwarded += 1
        self.events.push(.request(leader, op: op, self.request(for: op, forwarded: true), from: id), at: self.now + self.random(500...4_000))
    }

    /// A forwarded call failed in transit: a write's outcome is unknown, a read just failed.
    mutating func forwardFailed(_ op: Int, origin: NodeID) {
        if self.operations[op].request.isRead {
            self.clientAnswer(op, .failure(RaftError(.unreachable, "the forward failed")))
        } else {
            self.clientAnswer(op, .failure(RaftError(.timedOut, "the forward failed; outcome unknown")))
        }
    }

    /// The node a request was forwarded to crashed or stopped with it.
    mutating func connectionLost(_ op: Int, at id: NodeID, from: NodeID?) {
        guard op >= 0 else { return }
        if let origin = from {
            self.forwardFailed(op, origin: origin)
        } else {
            self.clientAnswer(op, .failure(RaftError(.timedOut, "the connection dropped")))
        }
    }

    /// The client sees the outcome and goes on with its next operation.
    mutating func clientAnswer(_ op: Int, _ answer: RaftNode.Answer, forwarded: Bool = false) {
        guard op >= 0, !self.operations[op].done else { return }
        self.operations[op].done = true
        let operation = self.operations[op]
        let outcome: SimulatedOutcome
        switch answer {
        case .success(let bytes):
            outcome = .ok(bytes)
            self.report.completed += 1
            if operation.request.consistency == .lease { self.report.leaseReads += 1 }
        case .failure(let error):
            outcome = error.code == .timedOut ? .unknown : .failed
            if error.code == .overloaded { self.report.overloaded += 1 }
        case .forward:
            outcome = .failed  // a redirect after a redirect: the caller gives up
        case .transferred, .changed, .bootstrapped:
            self.fail("operation \(op) got the answer of an operator's request")
            return
        }
        self.history[operation.history].outcome = outcome
        self.history[operation.history].completeTime = outcome == .unknown ? nil : self.now
        // A pinned reader pauses up to a tick: enough reads land in every lease window, and the
        // history stays small enough to check.
        let pause: UInt64 = if case .pinnedReader = self.clientRoles[operation.client] { self.random(2_000...Self.tick) } else { self.random(0...3_000) }
        self.events.push(.clientTurn(operation.client), at: self.now + pause)
    }

    // MARK: - Faults

    /// Nodes down, frozen, stopping or wiped (refused for good).
    var unavailable: Int {
        self.hosts.filter { !$0.isUp || $0.frozen || $0.stopping || ($0.wiped && self.identityChecks) }.count
    }

    mutating func injectFault() {
        let id = NodeID(self.random(1...UInt64(self.nodeCount)))
        let index = self.index(id)
        let mayTakeDown =
            self.unavailable < (self.nodeCount - 1) / 2 && self.hosts[index].isUp
            && !self.hosts[index].frozen && !self.hosts[index].stopping
        switch self.random(0...10) {
        case 0, 1:
            if mayTakeDown { self.crash(id) }
        case 2:
            if mayTakeDown { self.hosts[index].crashAtNextPersist = true }
        case 3:
            guard mayTakeDown else { return }
            self.report.freezes += 1
            self.hosts[index].frozen = true
            self.events.push(.thaw(id), at: self.now + Self.tick * self.random(2...40))
        case 4:
            let until = self.now + self.random(100_000...600_000)
            for other in 1...NodeID(self.nodeCount) where other != id {
                self.blocked.insert([id, other])
                self.blocked.insert([other, id])
                self.events.push(.unblock(from: id, to: other), at: until)
                self.events.push(.unblock(from: other, to: id), at: until)
            }
        case 5:
            let other = NodeID(self.random(1...UInt64(self.nodeCount)))
            guard other != id else { return }
            self.blocked.insert([id, other])
            self.events.push(.unblock(from: id, to: other), at: self.now + self.random(100_000...600_000))
        case 6:
            guard mayTakeDown else { return }
            self.report.stops += 1
            self.hosts[index].stopping = true
            self.feed(id, [.stop])
        case 7:
            guard let leader = self.hosts.first(where: { $0.engine?.core.role == .leader })?.id else { return }
            let target = self.chance(30) ? nil : NodeID(self.random(1...UInt64(self.nodeCount)))
            self.feed(leader, [self.register(at: leader, op: -1, .transfer(to: target), from: nil)])
        case 8:
            // Membership: promote the non-voter if there is one, else demote a voter (the leader
            // itself too: it hands leadership over first).
            guard let leader = self.hosts.first(where: { $0.engine?.core.role == .leader })?.id else { return }
            let configuration = self.hosts[self.index(leader)].engine!.core.configuration
            let change: MembershipChange
            if let learner = configuration.learners.sorted().first {
                change = .promote(id: learner)
            } else if configuration.voters.count > 2 {
                change = .demote(id: id)
            } else {
                return
            }
            self.feed(leader, [self.register(at: leader, op: Self.membershipRequest, .membership(change), from: nil)])
        case 9:
            // A disk lost, once per run at most (the wiped node is refused from then on).
            guard self.allowWipes, mayTakeDown, !self.hosts.contains(where: \.wiped), self.chance(25) else { return }
            self.wipe(id)
        default:
            break
        }
    }

    /// A frozen node resumes: everything that queued arrives at once, with the time that passed.
    mutating func thaw(_ id: NodeID) {
        let index = self.index(id)
        guard self.hosts[index].frozen else { return }
        self.hosts[index].frozen = false
        guard self.hosts[index].isUp else { return }
        var inputs = self.hosts[index].queued
        for queued in self.hosts[index].queuedRequests {
            if case .read(let query, .stale) = queued.request {
                self.clientAnswer(queued.op, self.query(id, query))
            } else {
                inputs.append(self.register(at: id, op: queued.op, queued.request, from: queued.from))
            }
        }
        self.hosts[index].queued = []
        self.hosts[index].queuedRequests = []
        self.feed(id, inputs)
    }

    /// The faults end: links heal, frozen nodes thaw (down nodes restart as scheduled).
    mutating func healAll() {
        self.blocked = []
        self.slowLinks = [:]
        for id in 1...NodeID(self.nodeCount) where self.hosts[self.index(id)].frozen { self.thaw(id) }
    }
}
