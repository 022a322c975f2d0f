public import RaftCore

/// A committed snapshot: its Raft metadata, size and checksum.
public struct StoredSnapshot: Sendable, Hashable {
    /// Index, term and configuration covered.
    public var metadata: SnapshotMetadata
    /// Size of the snapshot bytes.
    public var size: Int
    /// CRC-32C of the snapshot bytes.
    public var checksum: UInt32

    /// Creates a description.
    public init(metadata: SnapshotMetadata, size: Int, checksum: UInt32) {
        self.metadata = metadata
        self.size = size
        self.checksum = checksum
    }
}

/// Streams the bytes of a new snapshot; nothing is visible until ``commit()``.
public protocol SnapshotWriter: AnyObject {
    /// Appends bytes.
    func write(_ bytes: [UInt8]) throws(StorageError)
    /// Makes the snapshot durable and visible atomically, then prunes old snapshots.
    func commit() throws(StorageError) -> StoredSnapshot
    /// Discards everything written.
    func abort()
}

/// Streams the bytes of a committed snapshot, checking size and checksum.
public protocol SnapshotReader: AnyObject {
    /// The snapshot being read.
    var snapshot: StoredSnapshot { get }
    /// The next chunk, at most `maxBytes`; empty at the end. At the end the checksum is verified.
    ///
    /// - Throws: ``StorageError/Code/corrupted`` if the bytes do not match the size or checksum.
    func read(maxBytes: Int) throws(StorageError) -> [UInt8]
}

extension SnapshotReader {
    /// Reads the rest of the snapshot into memory.
    public func readAll(chunkSize: Int = 1 << 20) throws(StorageError) -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk = try self.read(maxBytes: chunkSize)
            if chunk.isEmpty { return bytes }
            bytes.append(contentsOf: chunk)
        }
    }
}

/// Durable storage for state-machine snapshots.
public protocol SnapshotStore: AnyObject, Sendable {
    /// Starts a new snapshot for `metadata`.
    func makeWriter(for metadata: SnapshotMetadata) throws(StorageError) -> any SnapshotWriter
    /// Committed snapshots, newest (highest index, then term) first.
    func list() throws(StorageError) -> [StoredSnapshot]
    /// Opens a committed snapshot.
    func open(_ snapshot: StoredSnapshot) throws(StorageError) -> any SnapshotReader
    /// Deletes all but the newest `count` snapshots.
    func retain(newest count: Int) throws(StorageError)
}

extension SnapshotStore {
    /// Stores `bytes` as the snapshot described by `metadata` in one go (committed, or nothing
    /// left behind if it fails).
    @discardableResult
    public func store(_ bytes: [UInt8], for metadata: SnapshotMetadata) throws(StorageError) -> StoredSnapshot {
        let writer = try self.makeWriter(for: metadata)
        do {
            try writer.write(bytes)
            return try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
    }

    /// Opens the newest committed snapshot, if any.
    public func openNewest() throws(StorageError) -> (any SnapshotReader)? {
        guard let newest = try self.list().first else { return nil }
        return try self.open(newest)
    }
}

/// Orders snapshots newest first: by index, then term (never by name).
func newestFirst(_ a: StoredSnapshot, _ b: StoredSnapshot) -> Bool {
    (a.metadata.index, a.metadata.term) > (b.metadata.index, b.metadata.term)
}
