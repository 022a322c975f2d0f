public import RaftCore
private import Synchronization

/// A ``LogStore`` in memory: for `persistDataOnDisk = false` and for tests. Nothing survives the process.
public final class InMemoryLogStore: LogStore {
    private struct State {
        var entries: [Entry] = []
        /// Index of `entries[0]`.
        var firstIndex: UInt64 = 1
        var closed = false

        var lastIndex: UInt64 { self.firstIndex + UInt64(self.entries.count) - 1 }

        func checkOpen() throws(StorageError) {
            if self.closed { throw StorageError(.closed, "the log store is closed") }
        }
    }

    private let state = Mutex(State())

    /// Creates an empty store whose first index is 1.
    public init() {}

    /// The index of the first stored entry.
    public var firstIndex: UInt64 { self.state.withLock { $0.firstIndex } }

    /// The index of the last stored entry.
    public var lastIndex: UInt64 { self.state.withLock { $0.lastIndex } }

    /// Appends entries that continue at `lastIndex + 1`.
    public func append(_ entries: [Entry]) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen()
            try LogStoreRules.checkAppend(entries, lastIndex: state.lastIndex, path: nil)
            state.entries.append(contentsOf: entries)
        }
    }

    /// Deletes the entries at and after `index`.
    public func truncateSuffix(from index: UInt64) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen()
            try LogStoreRules.checkTruncate(index, firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: nil)
            state.entries.removeSubrange(Int(index - state.firstIndex)...)
        }
    }

    /// Deletes the entries at and before `index`.
    public func compactPrefix(through index: UInt64) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen()
            guard index >= state.firstIndex else { return }
            if index >= state.lastIndex {
                state.entries = []
            } else {
                state.entries.removeFirst(Int(index - state.firstIndex + 1))
            }
            state.firstIndex = index + 1
        }
    }

    /// The entries in `range`, up to about `maxBytes`.
    public func entries(in range: Range<UInt64>, maxBytes: Int) throws(StorageError) -> [Entry] {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen()
            try LogStoreRules.checkRead(range, firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: nil)
            var result: [Entry] = []
            var bytes = 0
            for index in range {
                let entry = state.entries[Int(index - state.firstIndex)]
                bytes += entry.byteSize
                if !result.isEmpty && bytes > maxBytes { break }
                result.append(entry)
            }
            return result
        }
    }

    /// The term of the entry at `index`.
    public func term(at index: UInt64) throws(StorageError) -> UInt64 {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen()
            try LogStoreRules.checkRead(index..<(index + 1), firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: nil)
            return state.entries[Int(index - state.firstIndex)].term
        }
    }

    /// Marks the store closed.
    public func close() { self.state.withLock { $0.closed = true } }
}
