private import NIOConcurrencyHelpers
public import NIOCore

/// A task executor that runs jobs on one NIO event loop.
///
/// A task that prefers it (`withTaskExecutorPreference`, `Task(executorPreference:)`) runs on the
/// same thread as the channels of that event loop: a message read there resumes the task without
/// waking a thread of Swift's pool, and the task's writes reach the channel without a hop back.
/// Once ``close()`` was called, jobs go to Swift's global pool instead, so that the event loop can
/// be shut down under tasks that still prefer it.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The event loop the jobs run on.
    public let eventLoop: any EventLoop
    /// Whether jobs go to the event loop; held while a job is handed to it, so that no job
    /// reaches it after `close()` returned.
    private let isOpen = NIOLockedValueBox(true)

    /// An executor for `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the event loop (in the global pool once closed).
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let onLoop = self.isOpen.withLockedValue { isOpen in
            if isOpen { self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) } }
            return isOpen
        }
        if !onLoop { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    /// Sends every later job to Swift's global pool; call it before the event loop shuts down.
    public func close() {
        self.isOpen.withLockedValue { $0 = false }
    }

    /// Runs jobs on the event loop again.
    func reopen() {
        self.isOpen.withLockedValue { $0 = true }
    }
}
