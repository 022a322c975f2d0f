public import RaftCore

/// Durable storage for the replicated log.
///
/// Indices are contiguous from ``firstIndex`` to ``lastIndex``; an empty store has
/// `lastIndex == firstIndex - 1` (a new one starts at `firstIndex == 1`). Every mutating call is
/// durable when it returns. Bad requests throw a ``StorageError`` — they never crash.
public protocol LogStore: AnyObject, Sendable {
    /// The index of the first stored entry (`lastIndex + 1` when empty).
    var firstIndex: UInt64 { get }
    /// The index of the last stored entry (`firstIndex - 1` when empty).
    var lastIndex: UInt64 { get }

    /// Appends entries that continue at `lastIndex + 1`, with one write and one fsync for the batch.
    ///
    /// - Throws: ``StorageError/Code/nonContiguous`` if the indices do not follow on.
    func append(_ entries: [Entry]) throws(StorageError)

    /// Deletes the entries at and after `index`, which must be in `firstIndex ... lastIndex + 1`.
    ///
    /// A crash during the call leaves a prefix of the old log, never a half-edited one.
    func truncateSuffix(from index: UInt64) throws(StorageError)

    /// Deletes the entries at and before `index` (after a snapshot covered them). An `index` at or
    /// beyond `lastIndex` empties the store; the next append then starts at `index + 1`.
    func compactPrefix(through index: UInt64) throws(StorageError)

    /// The entries in `range`, stopping once about `maxBytes` are read (at least one entry).
    ///
    /// - Throws: ``StorageError/Code/compacted`` below ``firstIndex``,
    ///   ``StorageError/Code/outOfRange`` beyond ``lastIndex``.
    func entries(in range: Range<UInt64>, maxBytes: Int) throws(StorageError) -> [Entry]

    /// The term of the entry at `index`.
    func term(at index: UInt64) throws(StorageError) -> UInt64

    /// Releases the store's files; later calls throw ``StorageError/Code/closed``.
    func close()
}

extension LogStore {
    /// Every stored entry.
    public func allEntries() throws(StorageError) -> [Entry] {
        guard self.lastIndex >= self.firstIndex else { return [] }
        return try self.entries(in: self.firstIndex..<(self.lastIndex + 1), maxBytes: .max)
    }

    /// `entries` with each ``Entry/Payload/evictedCommand(byteCount:)`` placeholder replaced by the
    /// stored command, which must have the same index, term and size.
    ///
    /// - Throws: ``StorageError/Code/corrupted`` if the store holds another entry there, or what
    ///   reading it throws (``StorageError/Code/compacted`` once it is gone).
    package func hydrating(_ entries: some Collection<Entry>) throws(StorageError) -> [Entry] {
        var result = Array(entries)
        let placeholders = result.indices.filter { if case .evictedCommand = result[$0].payload { true } else { false } }
        guard let first = placeholders.first, let last = placeholders.last else { return result }
        let stored = try self.entries(in: result[first].index..<(result[last].index + 1), maxBytes: .max)
        for position in placeholders {
            let entry = result[position]
            let offset = Int(entry.index - result[first].index)
            guard case .evictedCommand(let byteCount) = entry.payload, offset < stored.count,
                case .command(let bytes) = stored[offset].payload, stored[offset].index == entry.index,
                stored[offset].term == entry.term, bytes.count == byteCount
            else {
                throw StorageError(.corrupted, "the log store does not hold the command evicted at index \(entry.index)", path: nil)
            }
            result[position] = stored[offset]
        }
        return result
    }
}

/// Checks shared by every ``LogStore`` implementation, so they reject bad requests alike.
enum LogStoreRules {
    static func checkAppend(_ entries: [Entry], lastIndex: UInt64, path: String?) throws(StorageError) {
        var expected = lastIndex + 1
        for entry in entries {
            guard entry.index == expected else {
                throw StorageError(
                    .nonContiguous, "append of index \(entry.index) does not follow index \(expected - 1)", path: path)
            }
            if case .evictedCommand = entry.payload {
                throw StorageError(.invalidArgument, "entry \(entry.index) is an evicted placeholder, not a command to store", path: path)
            }
            expected += 1
        }
    }

    static func checkTruncate(_ index: UInt64, firstIndex: UInt64, lastIndex: UInt64, path: String?) throws(StorageError) {
        guard index >= firstIndex else {
            throw StorageError(.compacted, "cannot truncate from \(index): entries before \(firstIndex) were compacted", path: path)
        }
        guard index <= lastIndex + 1 else {
            throw StorageError(.outOfRange, "cannot truncate from \(index): the last index is \(lastIndex)", path: path)
        }
    }

    static func checkRead(_ range: Range<UInt64>, firstIndex: UInt64, lastIndex: UInt64, path: String?) throws(StorageError) {
        guard range.lowerBound >= firstIndex || range.isEmpty else {
            throw StorageError(.compacted, "index \(range.lowerBound) was compacted (first index \(firstIndex))", path: path)
        }
        guard range.upperBound <= lastIndex + 1 else {
            throw StorageError(.outOfRange, "index \(range.upperBound - 1) is beyond the last index \(lastIndex)", path: path)
        }
    }
}
