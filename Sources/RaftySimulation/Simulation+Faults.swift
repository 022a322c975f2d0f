import RaftCore

/// The faults the randomized and membership runs share, each drawing from the run's generator in
/// one fixed order (so a seed replays) and returning the line the run's fault log records.
extension Simulation {
    /// Crashes `victim` at once or, half the time, in the middle of its next persist.
    mutating func crashNowOrMidPersist(_ victim: NodeID, name: String, using rng: inout SplitMix64) -> String {
        if Bool.random(using: &rng) {
            self.crash(victim)
            return "t\(self.now) crash \(name)"
        }
        self.crashBeforeNextPersist(victim)
        return "t\(self.now) crash-before-persist \(name)"
    }

    /// Restarts one of the nodes that are down, if any.
    mutating func restartOne(of down: [NodeID], using rng: inout SplitMix64) -> String? {
        guard let node = down.randomElement(using: &rng) else { return nil }
        self.restart(node)
        return "t\(self.now) restart \(node)"
    }

    /// Splits `ids` (two or more) in two random groups.
    mutating func partitionInTwo(_ ids: [NodeID], using rng: inout SplitMix64) -> String {
        let shuffled = ids.shuffled(using: &rng)
        let cut = Int.random(in: 1..<shuffled.count, using: &rng)
        let groups = [Array(shuffled[..<cut]), Array(shuffled[cut...])]
        self.partition(groups)
        return "t\(self.now) partition \(groups)"
    }

    /// Cuts one random link of `ids` (two or more) in one direction.
    mutating func blockOneRandomWay(_ ids: [NodeID], using rng: inout SplitMix64) -> String {
        let a = ids.randomElement(using: &rng)!
        let b = ids.filter { $0 != a }.randomElement(using: &rng)!
        self.blockOneWay(from: a, to: b)
        return "t\(self.now) block \(a)->\(b)"
    }

    /// Cuts the leader off from its peers (clients still reach it: a stale leader).
    mutating func isolateLeader(_ leader: NodeID) -> String {
        self.isolate(leader)
        return "t\(self.now) isolate leader \(leader)"
    }

    /// Heals every partition and cut link.
    mutating func healAll() -> String {
        self.healNetwork()
        return "t\(self.now) heal"
    }
}
