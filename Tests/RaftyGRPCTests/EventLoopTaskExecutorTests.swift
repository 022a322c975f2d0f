import NIOCore
import NIOPosix
import RaftyGRPC
import Synchronization
import Testing

@Suite("EventLoopTaskExecutor", .timeLimit(.minutes(1)))
struct EventLoopTaskExecutorTests {
    @Test("Jobs run on the loop until close(), then in the pool, also once the loop shut down")
    func closeMovesJobsToThePool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        #expect(await Task(executorPreference: executor) { executor.eventLoop.inEventLoop }.value)
        executor.close()
        #expect(await Task(executorPreference: executor) { executor.eventLoop.inEventLoop }.value == false)
        try await group.shutdownGracefully()
        #expect(await Task(executorPreference: executor) { 42 }.value == 42)
    }

    /// A job handed to a loop that shut down is dropped by NIO, and its task never resumes: the
    /// suite's time limit fails this test if `close()` returned while a job was still being handed over.
    @Test("close() under concurrent enqueues: every task finishes after the loop shut down")
    func closeUnderLoad() async throws {
        for _ in 0..<20 {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let executor = EventLoopTaskExecutor(group.next())
            let steps = Steps()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for _ in 0..<8 {
                    tasks.addTask {
                        for _ in 0..<200 {
                            await withTaskExecutorPreference(executor) { steps.count.add(1, ordering: .relaxed) }
                            await withTaskExecutorPreference(globalConcurrentExecutor) { await Task.yield() }
                        }
                    }
                }
                tasks.addTask {
                    while steps.count.load(ordering: .relaxed) < 400 { await Task.yield() }
                    executor.close()
                    try await group.shutdownGracefully()
                }
                try await tasks.waitForAll()
            }
            #expect(steps.count.load(ordering: .relaxed) == 8 * 200)
        }
    }
}

private final class Steps: Sendable {
    let count = Atomic(0)
}
