import Synchronization

/// Runs a ``BenchWorkload``: one task per client in a closed loop, plus a progress reporter.
struct BenchRunner: Sendable {
    /// What to run.
    let workload: BenchWorkload
    /// Where requests go (no failover: each client sticks to its endpoint).
    let client: RaftyHTTPClient

    /// Runs the workload to its end and returns the report.
    ///
    /// - Parameter progress: called about once a second with a progress line (stderr in the CLI).
    func run(progress: @escaping @Sendable (String) -> Void) async -> BenchReport {
        let counters = BenchCounters()
        let start = ContinuousClock.now
        let deadline = start + self.workload.duration
        let merged = await withTaskGroup(of: BenchClientResult?.self) { group in
            group.addTask {
                await Self.reportProgress(counters: counters, start: start, progress: progress)
                return nil
            }
            for index in 0..<self.workload.clients {
                group.addTask {
                    await self.runClient(index, until: deadline, counters: counters)
                }
            }
            var merged = BenchClientResult()
            var finished = 0
            for await result in group {
                guard let result else { continue }
                merged.merge(result)
                finished += 1
                // The progress task runs until cancelled.
                if finished == self.workload.clients { group.cancelAll() }
            }
            return merged
        }
        return BenchReport(result: merged, elapsed: ContinuousClock.now - start, workload: self.workload)
    }

    /// One client: until `deadline`, pick a random key and GET it (probability `readRatio`) or
    /// PUT a random value; record the latency of every answered operation.
    private func runClient(_ index: Int, until deadline: ContinuousClock.Instant, counters: BenchCounters) async -> BenchClientResult {
        var result = BenchClientResult()
        var random = SystemRandomNumberGenerator()
        let endpoint = self.workload.endpoint(ofClient: index)
        let readQuery = self.workload.consistency.map { [("consistency", $0.rawValue)] } ?? []
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let key = BenchWorkload.key(Int.random(in: 0..<self.workload.keys, using: &random))
            let isRead = self.workload.readRatio > 0 && Double.random(in: 0..<1, using: &random) < self.workload.readRatio
            let request =
                isRead
                ? APIRequest(.get, KVCommand.target(of: key, query: readQuery))
                : APIRequest(.put, KVCommand.target(of: key), body: Self.randomValue(size: self.workload.valueSize, using: &random))
            let started = ContinuousClock.now
            do {
                let response = try await self.client.send(request, to: endpoint)
                // A key never written yet is an answer, not an error.
                if response.isSuccess || (isRead && response.status == 404) {
                    result.record(ContinuousClock.now - started, isRead: isRead)
                    counters.operations.add(1, ordering: .relaxed)
                } else {
                    result.recordError("http \(response.status)")
                    counters.errors.add(1, ordering: .relaxed)
                }
            } catch {
                result.recordError(error.kind.rawValue)
                counters.errors.add(1, ordering: .relaxed)
                if error.kind == .connectionFailed {
                    // Without a pause a dead endpoint turns the loop into a busy spin.
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        return result
    }

    /// Emits a progress line every second until cancelled.
    private static func reportProgress(
        counters: BenchCounters,
        start: ContinuousClock.Instant,
        progress: @Sendable (String) -> Void
    ) async {
        var previousOperations = 0
        var previousTime = start
        while true {
            do {
                try await Task.sleep(until: previousTime + .seconds(1), clock: .continuous)
            } catch {
                return
            }
            let now = ContinuousClock.now
            let operations = counters.operations.load(ordering: .relaxed)
            let line = BenchReport.progressLine(
                elapsed: now - start,
                operations: operations,
                rate: Double(operations - previousOperations) / BenchReport.seconds(now - previousTime),
                errors: counters.errors.load(ordering: .relaxed)
            )
            progress(line)
            previousOperations = operations
            previousTime = now
        }
    }

    /// `size` random lowercase letters.
    static func randomValue(size: Int, using random: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        while bytes.count < size {
            var word = random.next()
            for _ in 0..<min(8, size - bytes.count) {
                bytes.append(UInt8(ascii: "a") + UInt8(word % 26))
                word /= 26
            }
        }
        return bytes
    }
}
