/// The leader's view of one follower's replication (etcd's tracker.Progress).
struct Progress: Sendable, Hashable {
    enum State: Sendable, Hashable {
        /// Sends one append at a time until it learns where the logs match.
        case probe
        /// Streams appends optimistically, bounded by the in-flight window.
        case replicate
        /// Waits for the follower to install the snapshot at `pendingIndex`.
        case snapshot(pendingIndex: UInt64)
    }

    /// An unacknowledged append: its last index and the bytes of its entries.
    struct Inflight: Sendable, Hashable {
        var index: UInt64
        var bytes: Int
    }

    var match: UInt64 = 0
    var next: UInt64
    var state: State = .probe
    /// In probe state: an append is outstanding.
    var probeSent = false
    /// Last index and entry bytes of each in-flight append, oldest first.
    var inflights: [Inflight] = []
    /// The bytes of the in-flight appends.
    var inflightBytes = 0
    let maxInflight: Int
    let maxInflightBytes: Int
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// Tick at which a snapshot was last sent (to retry a lost one).
    var snapshotSentTick: UInt64 = 0
    /// Highest read-confirmation round acknowledged in this term.
    var ackedRound: UInt64 = 0
    /// Highest heartbeat send tick acknowledged in this term (for the lease).
    var ackedSentTick: UInt64?
    /// The highest commit index this follower was sent (capped at the entries it was sent), and the
    /// highest it waits to learn (its forwarded commands, its reads): only then does a commit
    /// advance need a message of its own; otherwise the next append or heartbeat carries it.
    var commitSent: UInt64 = 0
    var commitWanted: UInt64 = 0

    init(next: UInt64, maxInflight: Int, maxInflightBytes: Int = .max) {
        self.next = next
        self.maxInflight = maxInflight
        self.maxInflightBytes = maxInflightBytes
    }

    /// The in-flight window is full, by count or by bytes.
    var inflightFull: Bool { self.inflights.count >= self.maxInflight || self.inflightBytes >= self.maxInflightBytes }

    /// Records an append of `bytes` of entries ending at `index`.
    mutating func addInflight(_ index: UInt64, bytes: Int) {
        self.inflights.append(Inflight(index: index, bytes: bytes))
        self.inflightBytes += bytes
    }

    /// Forgets every in-flight append.
    mutating func clearInflights() {
        self.inflights.removeAll()
        self.inflightBytes = 0
    }

    /// Frees the oldest in-flight slot (a heartbeat answer when the window is full: one append
    /// may have been lost).
    mutating func freeFirstInflight() {
        guard !self.inflights.isEmpty else { return }
        self.inflightBytes -= self.inflights.removeFirst().bytes
    }

    var isPaused: Bool {
        switch self.state {
        case .probe: self.probeSent
        case .replicate: self.inflightFull
        case .snapshot: true
        }
    }

    /// Records an acknowledgement up to `index`; returns whether `match` moved.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if self.match < index {
            self.match = index
            updated = true
            self.probeSent = false
        }
        self.next = max(self.next, index + 1)
        return updated
    }

    /// Handles a rejection of the append whose `prevLogIndex` was `rejected`; returns false for a stale one.
    mutating func maybeDecrease(rejected: UInt64, matchHint: UInt64) -> Bool {
        if case .replicate = self.state {
            if rejected <= self.match { return false }
            self.next = self.match + 1
            return true
        }
        if self.next - 1 != rejected { return false }
        self.next = max(min(rejected, matchHint + 1), self.match + 1)
        self.probeSent = false
        return true
    }

    mutating func becomeProbe() {
        if case .snapshot(let pending) = self.state {
            self.next = max(self.match + 1, pending + 1)
        } else {
            self.next = self.match + 1
        }
        self.state = .probe
        self.probeSent = false
        self.clearInflights()
    }

    mutating func becomeReplicate() {
        self.state = .replicate
        self.next = self.match + 1
        self.clearInflights()
    }

    mutating func becomeSnapshot(_ index: UInt64, tick: UInt64) {
        self.state = .snapshot(pendingIndex: index)
        self.snapshotSentTick = tick
        self.probeSent = false
        self.clearInflights()
    }

    /// Frees in-flight slots for appends acknowledged up to `index`.
    mutating func freeInflights(upTo index: UInt64) {
        while let first = self.inflights.first, first.index <= index {
            self.inflightBytes -= first.bytes
            self.inflights.removeFirst()
        }
    }
}
