public import RaftCore
import Synchronization

/// A ``SnapshotStore`` held in memory: for tests and nodes run with `persistDataOnDisk = false`.
///
/// Same semantics as ``FileSnapshotStore`` (nothing visible before commit, newest first by index
/// then term, retention, size and checksum verified at the end of reading), except that nothing
/// survives the process.
public final class InMemorySnapshotStore: SnapshotStore {
    /// How many snapshots are kept after each commit.
    public let retainCount: Int

    private struct Stored {
        var snapshot: StoredSnapshot
        var bytes: [UInt8]
    }

    private let stored = Mutex<[Stored]>([])

    /// Creates an empty store keeping the newest `retainCount` snapshots.
    ///
    /// - Throws: ``StorageError/Code/invalidArgument`` if `retainCount < 1`.
    public init(retainCount: Int = 3) throws(StorageError) {
        guard retainCount >= 1 else {
            throw StorageError(.invalidArgument, "retainCount must be at least 1, not \(retainCount)")
        }
        self.retainCount = retainCount
    }

    /// Starts a snapshot for `metadata`; nothing is visible until it is committed.
    public func makeWriter(for metadata: SnapshotMetadata) throws(StorageError) -> any SnapshotWriter {
        InMemorySnapshotWriter(store: self, metadata: metadata)
    }

    /// Committed snapshots, newest (highest index, then term) first.
    public func list() throws(StorageError) -> [StoredSnapshot] {
        self.stored.withLock { $0.map(\.snapshot) }
    }

    /// Opens a committed snapshot for streaming.
    ///
    /// - Throws: ``StorageError/Code/notFound`` if `snapshot` is not (or no longer) stored.
    public func open(_ snapshot: StoredSnapshot) throws(StorageError) -> any SnapshotReader {
        guard let bytes = self.stored.withLock({ $0.first { $0.snapshot == snapshot }?.bytes }) else {
            throw StorageError(.notFound, "no snapshot at index \(snapshot.metadata.index), term \(snapshot.metadata.term)")
        }
        return InMemorySnapshotReader(snapshot: snapshot, bytes: bytes)
    }

    /// Deletes all but the newest `count` snapshots.
    public func retain(newest count: Int) throws(StorageError) {
        guard count >= 0 else { throw StorageError(.invalidArgument, "cannot retain \(count) snapshots") }
        self.stored.withLock { if $0.count > count { $0.removeLast($0.count - count) } }
    }

    func install(_ snapshot: StoredSnapshot, bytes: [UInt8]) {
        self.stored.withLock { stored in
            stored.removeAll { $0.snapshot.metadata.index == snapshot.metadata.index && $0.snapshot.metadata.term == snapshot.metadata.term }
            stored.append(Stored(snapshot: snapshot, bytes: bytes))
            stored.sort { newestFirst($0.snapshot, $1.snapshot) }
            if stored.count > self.retainCount { stored.removeLast(stored.count - self.retainCount) }
        }
    }

    /// Replaces the stored bytes of a snapshot without updating its size or checksum, to test
    /// that readers detect damage.
    func damage(_ snapshot: StoredSnapshot, _ change: (inout [UInt8]) -> Void) {
        self.stored.withLock { stored in
            if let i = stored.firstIndex(where: { $0.snapshot == snapshot }) { change(&stored[i].bytes) }
        }
    }
}

/// Buffers a new snapshot until it is committed.
final class InMemorySnapshotWriter: SnapshotWriter {
    private let store: InMemorySnapshotStore
    private let metadata: SnapshotMetadata
    private var bytes: [UInt8] = []
    private var checksum = CRC32C()
    private var finished = false

    init(store: InMemorySnapshotStore, metadata: SnapshotMetadata) {
        self.store = store
        self.metadata = metadata
    }

    func write(_ bytes: [UInt8]) throws(StorageError) {
        guard !self.finished else { throw StorageError(.closed, "snapshot writer already committed or aborted") }
        self.bytes.append(contentsOf: bytes)
        self.checksum.update(bytes)
    }

    func commit() throws(StorageError) -> StoredSnapshot {
        guard !self.finished else { throw StorageError(.closed, "snapshot writer already committed or aborted") }
        self.finished = true
        let snapshot = StoredSnapshot(metadata: self.metadata, size: self.bytes.count, checksum: self.checksum.value)
        self.store.install(snapshot, bytes: self.bytes)
        self.bytes = []
        return snapshot
    }

    func abort() {
        self.finished = true
        self.bytes = []
    }
}

/// Streams a stored snapshot, verifying size and checksum at the end.
final class InMemorySnapshotReader: SnapshotReader {
    let snapshot: StoredSnapshot
    private let bytes: [UInt8]
    private var verifier: SnapshotVerifier

    init(snapshot: StoredSnapshot, bytes: [UInt8]) {
        self.snapshot = snapshot
        self.bytes = bytes
        self.verifier = SnapshotVerifier(snapshot: snapshot, path: nil)
    }

    func read(maxBytes: Int) throws(StorageError) -> [UInt8] {
        try self.verifier.checkReadable(maxBytes: maxBytes)
        let start = min(self.verifier.offset, self.bytes.count)
        let end = min(self.bytes.count, start + min(maxBytes, self.snapshot.size - start + 1))
        return try self.verifier.accept(Array(self.bytes[start..<max(start, end)]))
    }
}
