/// A safety violation (or a stuck cluster) found by the simulator, with what it takes to replay it.
public struct SimulationFailure: Error, Sendable, CustomStringConvertible {
    /// What was violated.
    public var message: String
    /// The seed of the run.
    public var seed: UInt64
    /// Simulated time of the violation.
    public var time: UInt64
    /// The step (event number) of the violation.
    public var step: Int
    /// The command that replays the run (nil: the randomized-simulation suite's).
    public var replayCommand: String?

    /// Creates a failure.
    public init(message: String, seed: UInt64, time: UInt64, step: Int) {
        self.message = message
        self.seed = seed
        self.time = time
        self.step = step
    }

    /// The violation and the command that replays it.
    public var description: String {
        "seed \(self.seed), step \(self.step), time \(self.time): \(self.message)\n"
            + "replay: \(self.replayCommand ?? "RAFTY_SIM_SEED=\(self.seed) swift test --filter RandomizedSimulationTests")"
    }
}
