import Logging
import RaftCore

/// A snapshot a leader streams to a follower. While it streams, and until the follower reports
/// it installed (or an election timeout passes), the log after it is kept: otherwise a transfer
/// that outlasts the next local snapshot leaves the follower behind the compacted log again, and
/// it needs a second transfer, and restores a second copy of the state while the first is held
/// (a 1 GiB state peaked at 2 GiB on the new member that way).
struct SnapshotStream {
    var index: UInt64
    /// The leader's term when it started: a follower drops a snapshot of an older term.
    var term: UInt64
    /// When the follower took the whole snapshot (nil: still streaming).
    var delivered: ContinuousClock.Instant?
}

extension NodeEngine {
    /// How long a follower that took a snapshot whole may take to install it (a large state
    /// restores for seconds) before the leader may send another.
    var snapshotInstallPatience: Duration { self.electionTimeout * 20 }

    /// Whether the transfer to `peer` still matters: it streams; or it was delivered in this term
    /// and the follower has not yet acknowledged the snapshot's index (for a while: a follower may
    /// also have dropped it); or the follower installed it and, heard from lately, still catches
    /// up from the log (for a while longer: it must not fall behind the next compaction).
    func isPending(_ stream: SnapshotStream, to peer: NodeID, match: UInt64, now: ContinuousClock.Instant) -> Bool {
        guard let delivered = stream.delivered else { return true }
        guard stream.term == self.core.term else { return false }
        if match < stream.index { return now - delivered < self.snapshotInstallPatience }
        let heard = self.lastHeard[peer].map { now - $0 < self.electionTimeout } ?? false
        return heard && match < self.core.commitIndex && now - delivered < self.snapshotInstallPatience * 6
    }

    /// Whether to hand an InstallSnapshot for `peer` to the host: not while another transfer to
    /// it is pending (the core resends when it hears nothing for an election timeout, which a
    /// large transfer or install outlasts). Records the transfer it lets through.
    mutating func startsSnapshotStream(_ message: Message) -> Bool {
        guard case .installSnapshot(let metadata) = message.body else { return true }
        if let stream = self.snapshotStreams[message.to] {
            // `nextTick` is within a tick of now.
            let match = self.core.status.matchIndex[message.to] ?? 0
            if self.isPending(stream, to: message.to, match: match, now: self.nextTick) {
                self.logger.debug(
                    "a snapshot transfer to this peer is under way; not starting another",
                    metadata: ["raft.peer": "\(message.to)", "raft.snapshot_index": "\(stream.index)"])
                return false
            }
        }
        self.snapshotStreams[message.to] = SnapshotStream(index: metadata.index, term: message.term)
        return true
    }

    /// The host's report that a transfer ended.
    mutating func snapshotSent(to peer: NodeID, index: UInt64, delivered: Bool, now: ContinuousClock.Instant) {
        guard let stream = self.snapshotStreams[peer], stream.index == index, stream.delivered == nil else { return }
        if delivered {
            self.snapshotStreams[peer]?.delivered = now
        } else {
            // Retry without waiting for the follower to stay behind for an election timeout.
            self.snapshotStreams[peer] = nil
            self.core.reportSnapshot(to: peer, success: false)
        }
    }

    /// How many entries to keep behind a local snapshot at `index`: the configured trailing
    /// entries, or more to keep everything a follower that was sent a snapshot still needs.
    mutating func trailingEntries(behind index: UInt64, now: ContinuousClock.Instant) -> UInt64 {
        let configured = self.configuration.trailingLogs
        guard !self.snapshotStreams.isEmpty else { return configured }
        let match = self.core.status.matchIndex
        self.snapshotStreams = self.snapshotStreams.filter { self.isPending($1, to: $0, match: match[$0] ?? 0, now: now) }
        let needed = self.snapshotStreams.map { peer, stream in max(stream.index, match[peer] ?? 0) }
        guard let oldest = needed.min(), oldest < index else { return configured }
        return max(configured, index - oldest)
    }
}
