#if canImport(Glibc)
    import Glibc
#endif

/// A task executor with one OS thread of its own, for long CPU- or I/O-bound work — writing,
/// reading and restoring snapshots — that would otherwise hold a thread of Swift's cooperative
/// pool. That pool has one thread per core (two here): two busy snapshot tasks starved every
/// node's event loop, whose ticks then arrived late enough to lose leadership. The kernel
/// time-slices this thread against the pool instead.
///
/// `@unchecked Sendable`: the job queue and the stop flag are only touched with `mutex` held; the
/// mutex and condition are allocated once and freed only after the thread has exited.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var finished = false

    /// Starts the thread.
    init() {
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(self.mutex, nil)
        self.condition = .allocate(capacity: 1)
        self.condition.initialize(to: pthread_cond_t())
        pthread_cond_init(self.condition, nil)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(
            &thread, nil,
            { context in
                let executor = Unmanaged<DedicatedThreadExecutor>.fromOpaque(context!).takeRetainedValue()
                executor.runJobs()
                return nil
            }, context)
        precondition(created == 0, "cannot start a thread: error \(created)")
        pthread_detach(thread)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        pthread_mutex_lock(self.mutex)
        if self.finished {
            // A task that outlived the node (a snapshot still being sent) goes on in the pool.
            pthread_mutex_unlock(self.mutex)
            globalConcurrentExecutor.enqueue(job)
            return
        }
        self.jobs.append(UnownedJob(job))
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    /// Lets the thread end once every queued job ran; later jobs run in the global pool.
    func shutdown() {
        pthread_mutex_lock(self.mutex)
        self.stopping = true
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    private func runJobs() {
        while true {
            pthread_mutex_lock(self.mutex)
            while self.jobs.isEmpty && !self.stopping { pthread_cond_wait(self.condition, self.mutex) }
            let batch = self.jobs
            self.jobs = []
            let done = batch.isEmpty && self.stopping
            if done { self.finished = true }
            pthread_mutex_unlock(self.mutex)
            if done { return }
            for job in batch { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }
}
