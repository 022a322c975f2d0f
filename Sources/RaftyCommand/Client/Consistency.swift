import ArgumentParser

/// The read consistency levels of the HTTP API (`?consistency=`).
enum Consistency: String, CaseIterable, ExpressibleByArgument, Sendable, Codable {
    /// ReadIndex: confirmed with a quorum; never stale.
    case linearizable
    /// Served by the leader while its lease holds (falls back to ReadIndex).
    case lease
    /// Served locally; may lag.
    case stale
}
