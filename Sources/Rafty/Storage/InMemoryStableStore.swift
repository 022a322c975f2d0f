import Synchronization

/// A ``StableStore`` held in memory: for tests and nodes run with `persistDataOnDisk = false`.
///
/// Same semantics as ``FileStableStore`` except that nothing survives the process.
public final class InMemoryStableStore: StableStore {
    private let current: Mutex<StableState>

    /// Creates a store holding `state` (by default, that of a node that never ran).
    public init(state: StableState = StableState()) {
        self.current = Mutex(state)
    }

    /// The stored state.
    public var state: StableState { self.current.withLock { $0 } }

    /// Replaces the stored state.
    public func save(_ state: StableState) throws(StorageError) {
        self.current.withLock { $0 = state }
    }
}
