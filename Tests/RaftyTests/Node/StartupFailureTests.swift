import RaftCore
import Rafty
import RaftyTestSupport
import RaftyTesting
import Testing

@Suite("RaftNode start-up failures", .timeLimit(.minutes(1)))
struct StartupFailureTests {
    @Test("A node whose address is taken fails run() with the transport's error instead of hanging")
    func addressInUse() async throws {
        let cluster = TestCluster(size: 1)
        try await cluster.run {
            try cluster.start(1) { $0.minimumClusterSize = 1 }
            try await eventually("node 1 leads") { cluster.node(1).status.state == .leader }
            var configuration = cluster.configuration(1)
            configuration.id = 2
            configuration.dataDirectory = "\(cluster.directory)/node-2"
            configuration.minimumClusterSize = 1
            let intruder = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: cluster.inProcessNetwork)
            do {
                try await intruder.run()
                Issue.record("run() returned although the address is taken")
            } catch let error as RaftError {
                #expect(error.message.contains("already in use"), "\(error)")
            }
            #expect(intruder.status.state == .down)
        }
    }
}
