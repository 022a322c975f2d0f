import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOPosix
import Rafty
import RaftyKV
import RaftyTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@Suite("KVHTTPServer as a ServiceLifecycle service", .timeLimit(.minutes(1)))
struct KVHTTPServerLifecycleTests {
    @Test("Reports its bound port, serves, stops on graceful shutdown and refuses a second run")
    func gracefulShutdown() async throws {
        var configuration = RaftNode.Configuration(id: 1)
        configuration.address = "10.0.1.1:50051"
        configuration.persistDataOnDisk = false
        configuration.minimumClusterSize = 1
        configuration.tickInterval = .milliseconds(10)
        let node = try RaftNode(configuration: configuration, stateMachine: KVStore(), transport: InProcessNetwork())
        let reported = Mutex<Int?>(nil)
        let logger = Logger(label: "kv-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = KVHTTPServer(node: node, port: 0, logger: logger) { port in reported.withLock { $0 = port } }
        let group = ServiceGroup(services: [node, server], logger: logger)

        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            try await eventually("the server reports its port") { reported.withLock { $0 } != nil }
            let port = try #require(reported.withLock { $0 })
            #expect(port > 0 && server.boundPort == port)
            try await eventually("the single node leads") { node.status.state == .leader }
            let answer = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await client.execute(TestClient.Request("/v1/kv/k", method: .put, authority: "127.0.0.1", body: ByteBuffer(bytes: [1])))
            }
            #expect(answer.status == .ok)
            await group.triggerGracefulShutdown()
        }
        #expect(node.status.state == .down)
        await #expect(throws: RaftError.self) { try await server.run() }
    }

    @Test("Serves its connections on the event loop group it is given")
    func givenEventLoopGroup() async throws {
        var configuration = RaftNode.Configuration(id: 1)
        configuration.address = "10.0.1.1:50051"
        configuration.persistDataOnDisk = false
        configuration.minimumClusterSize = 1
        configuration.tickInterval = .milliseconds(10)
        let node = try RaftNode(configuration: configuration, stateMachine: KVStore(), transport: InProcessNetwork())
        let logger = Logger(label: "kv-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let ticks = TickCounter()
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1, metricsDelegate: ticks)
        let reported = Mutex<Int?>(nil)
        let server = KVHTTPServer(node: node, port: 0, logger: logger, eventLoopGroup: loop) { port in reported.withLock { $0 = port } }
        let group = ServiceGroup(services: [node, server], logger: logger)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            try await eventually("the server reports its port") { reported.withLock { $0 } != nil }
            let port = try #require(reported.withLock { $0 })
            try await eventually("the single node leads") { node.status.state == .leader }
            let before = ticks.count.load(ordering: .relaxed)
            try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                for i in 0..<20 {
                    let answer = try await client.execute(
                        TestClient.Request("/v1/kv/k\(i)", method: .put, authority: "127.0.0.1", body: ByteBuffer(bytes: [1])))
                    #expect(answer.status == .ok)
                }
            }
            // Each request is read on the server's loop: on NIO's shared group, this one stays idle.
            #expect(ticks.count.load(ordering: .relaxed) - before >= 20)
            await group.triggerGracefulShutdown()
        }
        try await loop.shutdownGracefully()
    }
}

/// Counts the ticks of an event loop.
private final class TickCounter: NIOEventLoopMetricsDelegate {
    let count = Atomic(0)
    func processedTick(info: NIOEventLoopTickInfo) { self.count.add(1, ordering: .relaxed) }
}
