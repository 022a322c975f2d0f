package import RaftCore

/// Work a ``NodeEngine`` hands its executor, to be carried out in order.
package enum NodeAction: Sendable {
    /// Send a message to the peer at `address` (an `installSnapshot` carries the stored
    /// snapshot of its index, read by the executor).
    case send(Message, to: String)
    /// Find the address of a node this one must answer (a joining node hears from a leader first).
    case lookUpAddress(NodeID, among: [String])
    /// Carry out the steps in order, durably; then report ``NodeEngine/persisted(now:)``. A crash
    /// may fall between any two steps; a failure stops the node.
    case persist([StorageStep])
    /// Apply committed entries to the state machine in order; then report
    /// ``NodeEngine/applied(_:results:now:)`` with the commands' results.
    case apply([Entry])
    /// Answer the caller with the state machine's answer to `query` (its index is applied).
    case query(RequestID, [UInt8])
    /// Answer the caller.
    case answer(RequestID, RaftNode.Answer)
    /// Write the state machine's snapshot (of exactly the entries applied so far) off the loop;
    /// then report ``NodeInput/snapshotWritten(_:failure:)``.
    case takeSnapshot(SnapshotMetadata)
    /// Drop stored entries up to `index` (a snapshot covers them).
    case compactLog(through: UInt64)
    /// The node cannot go on.
    case fail(RaftError)
}

/// One durable write. The order within a ``NodeAction/persist(_:)`` is what makes every crash
/// point recoverable (see ``NodeEngine`` and the recovery in `NodeLoop+Recovery`).
package enum StorageStep: Sendable, Equatable {
    /// Term, vote and commit index.
    case saveHardState(HardState)
    /// The whole stable state (a bootstrap's configuration).
    case saveStableState(StableState)
    /// Store a snapshot received from the leader.
    case storeSnapshot(SnapshotMetadata, ReceivedSnapshot)
    /// Restore the state machine from the stored snapshot of this index.
    case restoreSnapshot(SnapshotMetadata)
    /// Drop every stored entry up to and after `index` (the snapshot at `index` replaces the log).
    case dropLog(through: UInt64)
    /// Delete stored entries from `index` on.
    case truncateSuffix(from: UInt64)
    /// Append entries after the last stored one.
    case append([Entry])
}

extension StorageStep {
    /// Whether ``perform(log:stable:)`` carries the step out alone: not a snapshot step, and not a
    /// stable state with a membership (the executor derives the cluster's id from it first).
    package var touchesOnlyLogAndStableState: Bool {
        switch self {
        case .saveHardState, .dropLog, .truncateSuffix, .append: true
        case .saveStableState(let state): state.configuration == nil
        case .storeSnapshot, .restoreSnapshot: false
        }
    }

    /// Carries out a step that touches only the log and the stable state; false for the snapshot
    /// steps, which need the executor's snapshot store and state machine. The runtime and the
    /// simulator both run their stores through this.
    package func perform(log: any LogStore, stable: any StableStore) throws(StorageError) -> Bool {
        switch self {
        case .saveHardState(let hard):
            var state = stable.state
            state.hardState = hard
            try stable.save(state)
        case .saveStableState(let state):
            try stable.save(state)
        case .dropLog(let index):
            if log.lastIndex > index { try log.truncateSuffix(from: max(index + 1, log.firstIndex)) }
            try log.compactPrefix(through: index)
        case .truncateSuffix(let index):
            if index <= log.lastIndex { try log.truncateSuffix(from: index) }
        case .append(let entries):
            try log.append(entries)
        case .storeSnapshot, .restoreSnapshot:
            return false
        }
        return true
    }
}
