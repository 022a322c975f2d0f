/// The three stores a node needs, opened together.
///
/// On disk they follow the data-directory layout:
/// ```
/// <dataDir>/LOCK         held while the directory is open (one process at a time)
/// <dataDir>/meta         stable state (atomic replace)
/// <dataDir>/identity     cluster id, incarnation, peers' incarnations (atomic replace)
/// <dataDir>/wal/         log segments, named by their first index
/// <dataDir>/snapshots/   <term>-<index>/{data, meta}; the newest `retainSnapshots` kept
/// ```
public struct RaftStorage: Sendable {
    /// The replicated log.
    public var log: any LogStore
    /// Term, vote, node id and membership.
    public var stable: any StableStore
    /// State-machine snapshots.
    public var snapshots: any SnapshotStore
    /// The lock on the data directory (nil in memory).
    package var lock: DataDirectoryLock?
    /// The cluster id, this directory's incarnation and the peers' (see ``NodeIdentity``).
    public var identity: NodeIdentityStore

    /// Gathers stores (your own implementations, or the file and in-memory ones); `identity`
    /// defaults to a new in-memory one (a new incarnation).
    public init(
        log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore,
        identity: NodeIdentityStore = NodeIdentityStore(inMemory: nil)
    ) {
        self.init(log: log, stable: stable, snapshots: snapshots, lock: nil, identity: identity)
    }

    /// Gathers stores opened in a locked data directory.
    package init(
        log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore, lock: DataDirectoryLock?,
        identity: NodeIdentityStore = NodeIdentityStore(inMemory: nil)
    ) {
        self.log = log
        self.stable = stable
        self.snapshots = snapshots
        self.lock = lock
        self.identity = identity
    }

    /// Opens (or creates) the stores in `dataDirectory`, locking it first.
    ///
    /// - Throws: ``StorageError`` with ``StorageError/Code/locked`` if another process uses the
    ///   directory, ``StorageError/Code/corrupted`` naming file and offset if stored data is damaged
    ///   anywhere but a torn tail, ``StorageError/Code/unsupportedVersion`` for a newer format.
    public static func open(dataDirectory: String, retainSnapshots: Int = 3) throws(StorageError) -> RaftStorage {
        let lock = try DataDirectoryLock(directory: dataDirectory)
        do throws(StorageError) {
            return RaftStorage(
                log: try FileLogStore(directory: dataDirectory + "/wal"),
                stable: try FileStableStore(directory: dataDirectory),
                snapshots: try FileSnapshotStore(directory: dataDirectory + "/snapshots", retainCount: retainSnapshots),
                lock: lock,
                identity: try NodeIdentityStore(directory: dataDirectory))
        } catch {
            lock.unlock()
            throw error
        }
    }

    /// Stores that live in memory only (`persistDataOnDisk = false`).
    public static func inMemory(retainSnapshots: Int = 3) throws(StorageError) -> RaftStorage {
        RaftStorage(
            log: InMemoryLogStore(), stable: InMemoryStableStore(),
            snapshots: try InMemorySnapshotStore(retainCount: retainSnapshots), lock: nil)
    }

    /// Closes the log and releases the directory lock.
    public func close() {
        self.log.close()
        self.lock?.unlock()
    }
}
