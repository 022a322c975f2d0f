import Dispatch
import Synchronization

/// Runs independent simulation seeds on every core.
///
/// CI runs the suites one test at a time (`swift test --no-parallel`, for the process tests'
/// timing), which left one of the two cores idle through the simulation suites, the longest part
/// of CI. A seed's run is a pure function of the seed (no shared state: the simulators are value
/// types), so running seeds side by side changes no result, only the wall time.
enum SeedRunner {
    /// `run` applied to every seed, in the seeds' order, on up to one thread per core.
    static func map<Report: Sendable>(_ seeds: [UInt64], _ run: @Sendable (UInt64) -> Report) -> [Report] {
        let results = Mutex<[Report?]>(Array(repeating: nil, count: seeds.count))
        DispatchQueue.concurrentPerform(iterations: seeds.count) { index in
            let report = run(seeds[index])
            results.withLock { $0[index] = report }
        }
        return results.withLock { $0.map { $0! } }
    }
}
