public import RaftCore
import Synchronization

/// The bytes of a snapshot a peer sent, as the transport hands them to the node: in memory, or
/// already written into the node's snapshot store (``SpooledSnapshot``), so that a snapshot of
/// any size reaches a follower without sitting in its memory.
public enum ReceivedSnapshot: Sendable, Equatable {
    /// The whole snapshot in memory (in-process networks, small transports).
    case bytes([UInt8])
    /// Written to the node's snapshot store, not yet committed.
    case spooled(SpooledSnapshot)
}

/// A snapshot received from a peer and written, as it arrived, into the receiving node's
/// snapshot store (``RaftTransportHandler/makeSnapshotWriter(for:)``) but not committed: the node
/// commits it when it installs it, in the order its storage steps require; one it never installs
/// (stale, superseded, the node stopped) is discarded with its last reference.
public final class SpooledSnapshot: Sendable, Equatable {
    /// What the leader said the snapshot holds.
    public let metadata: SnapshotMetadata
    /// Its size in bytes.
    public let size: Int
    private let writer: Mutex<(any SnapshotWriter)?>

    /// Wraps `writer`, into which the transport wrote all `size` bytes of the snapshot described
    /// by `metadata` (and checked them against the sender's checksum).
    public init(metadata: SnapshotMetadata, size: Int, writer: sending any SnapshotWriter) {
        self.metadata = metadata
        self.size = size
        self.writer = Mutex(writer)
    }

    /// Makes the snapshot durable and visible in the store (once; later calls fail).
    func commit() throws(StorageError) -> StoredSnapshot {
        try self.writer.withLock { (writer: inout (any SnapshotWriter)?) throws(StorageError) -> StoredSnapshot in
            guard let current = writer else {
                throw StorageError(.closed, "the received snapshot at index \(self.metadata.index) was already committed")
            }
            writer = nil
            return try current.commit()
        }
    }

    /// The same spooled snapshot.
    public static func == (lhs: SpooledSnapshot, rhs: SpooledSnapshot) -> Bool { lhs === rhs }
}
