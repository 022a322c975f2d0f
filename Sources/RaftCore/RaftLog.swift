/// The core's in-memory view of the log: entries after the compaction point, the part already
/// persisted, and the commit and apply positions.
///
/// Invariants: `offset <= applied <= committed <= lastIndex` and `offset <= stableIndex <= lastIndex`.
struct RaftLog: Sendable, Hashable {
    /// The index just before `entries[0]` (0, or the last compacted index).
    private(set) var offset: UInt64
    /// The term of the entry at `offset`.
    private(set) var offsetTerm: UInt64
    /// The configuration in effect at `offset`.
    private(set) var offsetConfiguration: ClusterConfiguration
    /// Entries `offset + 1 ... lastIndex`.
    private(set) var entries: [Entry]
    /// Highest index known to be committed.
    private(set) var committed: UInt64
    /// Highest index handed to the host for applying.
    var applied: UInt64
    /// Highest index the host has persisted.
    private(set) var stableIndex: UInt64
    /// The newest snapshot (taken locally or installed from the leader).
    private(set) var snapshot: SnapshotMetadata?
    /// An installed snapshot that has not been handed to the host yet.
    var pendingSnapshot: SnapshotMetadata?
    /// Indices of the configuration entries in `entries`, ascending: finding the configuration in
    /// effect must not scan the log (it is asked on every append and every status update).
    private(set) var configurationIndices: [UInt64]
    /// Commands up to this index may be ``Entry/Payload/evictedCommand(byteCount:)`` (at least
    /// `offset`). Eviction stops at `applied` and `stableIndex`; only a start-up that loaded old
    /// commands as placeholders (``RawNode/PersistentState``) puts it beyond `applied`.
    private(set) var evictedThrough: UInt64
    /// Bytes of the command payloads held for the entries after `evictedThrough`.
    private(set) var residentBytes: Int

    init(snapshot: SnapshotMetadata?, baseConfiguration: ClusterConfiguration, entries: [Entry], committed: UInt64) {
        self.offset = snapshot?.index ?? 0
        self.offsetTerm = snapshot?.term ?? 0
        self.offsetConfiguration = snapshot?.configuration ?? baseConfiguration
        self.snapshot = snapshot
        self.entries = entries
        self.configurationIndices = entries.compactMap { entry in
            if case .configuration = entry.payload { entry.index } else { nil }
        }
        self.stableIndex = self.offset + UInt64(entries.count)
        self.applied = self.offset
        self.committed = min(max(committed, self.offset), self.offset + UInt64(entries.count))
        self.evictedThrough = entries.last { if case .evictedCommand = $0.payload { true } else { false } }?.index ?? self.offset
        self.residentBytes = entries.reduce(0) { $0 + Self.commandBytes($1) }
    }

    /// The bytes of a command held in memory (0 for anything else).
    static func commandBytes(_ entry: Entry) -> Int {
        if case .command(let bytes) = entry.payload { bytes.count } else { 0 }
    }

    var firstIndex: UInt64 { self.offset + 1 }
    var lastIndex: UInt64 { self.offset + UInt64(self.entries.count) }
    var lastTerm: UInt64 { self.entries.last?.term ?? self.offsetTerm }

    /// The term of the entry at `index`, or nil if it was compacted or does not exist yet.
    func term(at index: UInt64) -> UInt64? {
        if index == self.offset { return self.offsetTerm }
        guard index > self.offset, index <= self.lastIndex else { return nil }
        return self.entries[Int(index - self.offset - 1)].term
    }

    func entry(at index: UInt64) -> Entry? {
        guard index > self.offset, index <= self.lastIndex else { return nil }
        return self.entries[Int(index - self.offset - 1)]
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool { self.term(at: index) == term }

    /// §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex: UInt64, lastTerm: UInt64) -> Bool {
        lastTerm > self.lastTerm || (lastTerm == self.lastTerm && lastIndex >= self.lastIndex)
    }

    /// Entries from `start` on, at most `maxCount` and about `maxBytes` (always at least one if any).
    func entries(from start: UInt64, maxCount: Int, maxBytes: Int) -> [Entry] {
        guard start > self.offset, start <= self.lastIndex else { return [] }
        let lo = Int(start - self.offset - 1)
        let hi = min(self.entries.count, lo + maxCount)
        var bytes = 0
        var end = lo
        while end < hi {
            bytes += self.entries[end].byteSize
            if end > lo && bytes > maxBytes { break }
            end += 1
        }
        return Array(self.entries[lo..<end])
    }

    /// Entries not yet persisted.
    var unstableEntries: [Entry] {
        guard self.stableIndex < self.lastIndex else { return [] }
        return Array(self.entries[Int(self.stableIndex - self.offset)...])
    }

    /// Committed entries not yet handed out for applying.
    var nextCommittedEntries: [Entry] {
        guard self.applied < self.committed else { return [] }
        let lo = Int(self.applied - self.offset)
        let hi = Int(self.committed - self.offset)
        return Array(self.entries[lo..<hi])
    }

    /// The index of the first entry that conflicts with ours or is new, or nil if all match.
    func firstConflict(in newEntries: [Entry]) -> UInt64? {
        for entry in newEntries where !self.matchTerm(entry.index, entry.term) {
            return entry.index
        }
        return nil
    }

    /// The largest index at or below `index` whose term is at most `term` (fast log backtracking).
    func findConflict(atOrBelow index: UInt64, term: UInt64) -> (index: UInt64, term: UInt64) {
        var candidate = min(index, self.lastIndex)
        while candidate > self.offset, let t = self.term(at: candidate), t > term {
            candidate -= 1
        }
        return (candidate, self.term(at: candidate) ?? 0)
    }

    /// Appends `newEntries`, first deleting any existing entries at or after the first new index.
    /// Precondition (the core's own invariant): the first new index is in `offset + 1 ... lastIndex + 1`
    /// and above `committed`.
    mutating func append(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        precondition(first.index > self.committed && first.index <= self.lastIndex + 1, "append below commit or with a gap")
        if first.index <= self.lastIndex {
            // Placeholders count for no resident bytes, so removing them needs no care.
            let removed = Int(first.index - self.offset - 1)...
            self.residentBytes -= self.entries[removed].reduce(0) { $0 + Self.commandBytes($1) }
            self.entries.removeSubrange(removed)
            self.stableIndex = min(self.stableIndex, first.index - 1)
            while let last = self.configurationIndices.last, last >= first.index { self.configurationIndices.removeLast() }
        }
        for entry in newEntries {
            if case .configuration = entry.payload { self.configurationIndices.append(entry.index) }
            self.residentBytes += Self.commandBytes(entry)
        }
        self.entries.append(contentsOf: newEntries)
    }

    mutating func commit(to index: UInt64) {
        if index > self.committed {
            precondition(index <= self.lastIndex, "commit beyond the last index")
            self.committed = index
        }
    }

    /// Records that the host persisted entries up to `index` with `term`.
    mutating func stable(to index: UInt64, term: UInt64) {
        if self.matchTerm(index, term), index > self.stableIndex { self.stableIndex = index }
    }

    /// The configuration in effect at `index` (the last configuration entry at or before it).
    func configuration(at index: UInt64) -> ClusterConfiguration {
        let limit = min(index, self.lastIndex)
        // Configuration entries are few: scanning their indices from the newest is cheap.
        for i in self.configurationIndices.reversed() where i <= limit {
            if case .configuration(let configuration) = self.entries[Int(i - self.offset - 1)].payload {
                return configuration
            }
        }
        return self.offsetConfiguration
    }

    /// The index of the last configuration entry, or `offset` if there is none after it.
    var lastConfigurationIndex: UInt64 { self.configurationIndices.last ?? self.offset }

    /// Records a snapshot taken up to `index` and drops entries up to `compactTo`.
    mutating func recordSnapshot(at index: UInt64, compactTo: UInt64) {
        precondition(index <= self.applied && index >= self.offset, "snapshot beyond applied")
        guard let term = self.term(at: index) else { return }
        self.snapshot = SnapshotMetadata(index: index, term: term, configuration: self.configuration(at: index))
        let newOffset = min(compactTo, index)
        guard newOffset > self.offset, let newOffsetTerm = self.term(at: newOffset) else { return }
        self.offsetConfiguration = self.configuration(at: newOffset)
        // Placeholders count for nothing, so every dropped entry can be counted out.
        self.residentBytes -= self.entries[..<Int(newOffset - self.offset)].reduce(0) { $0 + Self.commandBytes($1) }
        self.evictedThrough = max(self.evictedThrough, newOffset)
        self.entries.removeFirst(Int(newOffset - self.offset))
        self.configurationIndices.removeAll { $0 <= newOffset }
        self.offset = newOffset
        self.offsetTerm = newOffsetTerm
        self.stableIndex = max(self.stableIndex, newOffset)
    }

    /// Replaces the whole log with a snapshot received from the leader.
    mutating func restore(_ snapshot: SnapshotMetadata) {
        self.entries = []
        self.configurationIndices = []
        self.offset = snapshot.index
        self.offsetTerm = snapshot.term
        self.offsetConfiguration = snapshot.configuration
        self.snapshot = snapshot
        self.pendingSnapshot = snapshot
        self.committed = snapshot.index
        self.applied = snapshot.index
        self.stableIndex = snapshot.index
        self.evictedThrough = snapshot.index
        self.residentBytes = 0
    }

    /// Drops the payloads of the oldest commands that are applied and persisted until the rest
    /// hold at most `keepingBytes` (configuration entries and noops are kept).
    mutating func evictPayloads(keepingBytes: Int) {
        let limit = min(self.applied, self.stableIndex)
        while self.residentBytes > keepingBytes, self.evictedThrough < limit {
            let position = Int(self.evictedThrough - self.offset)
            if case .command(let bytes) = self.entries[position].payload {
                self.entries[position].payload = .evictedCommand(byteCount: bytes.count)
                self.residentBytes -= bytes.count
            }
            self.evictedThrough += 1
        }
    }
}
