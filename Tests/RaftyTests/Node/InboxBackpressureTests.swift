import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

@Suite("Inbox backpressure on peer streams")
struct InboxBackpressureTests {
    @Test("A full inbox holds inbound peer messages back until the loop takes its events")
    func fullInbox() async throws {
        var configuration = RaftNode.Configuration(id: 1)
        configuration.persistDataOnDisk = false
        // Not running: nothing drains the inbox but the test.
        let node = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: InProcessNetwork())
        let heartbeat = Message(from: 2, to: 1, term: 1, body: .heartbeat(Heartbeat(commit: 0, round: 1, sentTick: 0)))
        await node.awaitCapacity()  // room: returns at once
        for _ in 0..<RaftNode.inboxLimit { await node.receive(heartbeat, snapshot: nil) }
        #expect(node.pendingEventCount == RaftNode.inboxLimit)

        let reader = Task {
            await node.awaitCapacity()
            await node.receive(heartbeat, snapshot: nil)
        }
        try await eventually("the peer stream waits for room") { node.roomWaiterCount == 1 }
        #expect(node.pendingEventCount == RaftNode.inboxLimit)
        #expect(node.takePending().count == RaftNode.inboxLimit)
        await reader.value
        #expect(node.pendingEventCount == 1)

        // A stopped node (the inbox closed) never holds a stream back.
        for _ in 0..<RaftNode.inboxLimit { await node.receive(heartbeat, snapshot: nil) }
        _ = node.takePending(close: true)
        await node.awaitCapacity()
    }
}
