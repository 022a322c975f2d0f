import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting

/// The runtime tests' cluster: RaftyTesting's harness on the in-process network, with recording
/// state machines.
typealias TestCluster = LocalCluster<RecordingStateMachine>

extension LocalCluster where Machine == RecordingStateMachine {
    /// A cluster of `size` in-process nodes (plus `extraNodes` ids to start later).
    convenience init(size: Int, extraNodes: Int = 0) {
        self.init(size: size, transport: .inProcess, extraNodes: extraNodes, stateMachine: { _ in RecordingStateMachine() })
    }
}
