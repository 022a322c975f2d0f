package import CoreMetrics
package import RaftCore

/// The metrics a node reports, created once (swift-metrics caches nothing for us).
package struct NodeMetrics {
    let factory: any MetricsFactory
    let dimensions: [(String, String)]
    let term: Gauge
    let commitIndex: Gauge
    let appliedIndex: Gauge
    /// 0 follower, 1 candidate, 2 leader, 3 read-only.
    let state: Gauge
    let electionsStarted: Counter
    let proposals: Counter
    /// Commands this follower forwarded to the leader.
    let forwardedProposals: Counter
    /// Requests refused by backpressure.
    let overloaded: Counter
    let proposalLatency: Timer
    let fsyncLatency: Timer
    let appendBatchSize: Recorder
    private var replicationLag: [NodeID: Gauge] = [:]

    /// Metrics that go nowhere (the simulator's nodes).
    package static func discarding(nodeID: NodeID) -> NodeMetrics {
        NodeMetrics(factory: NOOPMetricsHandler.instance, nodeID: nodeID)
    }

    package init(factory: any MetricsFactory, nodeID: NodeID) {
        self.factory = factory
        self.dimensions = [("raft.node_id", "\(nodeID)")]
        self.term = Gauge(label: "raft.term", dimensions: self.dimensions, factory: factory)
        self.commitIndex = Gauge(label: "raft.commit_index", dimensions: self.dimensions, factory: factory)
        self.appliedIndex = Gauge(label: "raft.applied_index", dimensions: self.dimensions, factory: factory)
        self.state = Gauge(label: "raft.state", dimensions: self.dimensions, factory: factory)
        self.electionsStarted = Counter(label: "raft.elections", dimensions: self.dimensions, factory: factory)
        self.proposals = Counter(label: "raft.proposals", dimensions: self.dimensions, factory: factory)
        self.forwardedProposals = Counter(label: "raft.proposals.forwarded", dimensions: self.dimensions, factory: factory)
        self.overloaded = Counter(label: "raft.overloaded", dimensions: self.dimensions, factory: factory)
        self.proposalLatency = Timer(
            label: "raft.proposal.duration", dimensions: self.dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
        self.fsyncLatency = Timer(
            label: "raft.storage.fsync.duration", dimensions: self.dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
        self.appendBatchSize = Recorder(label: "raft.storage.append.batch_size", dimensions: self.dimensions, factory: factory)
    }

    /// Entries a follower is behind the leader's log (leader only).
    mutating func recordLag(of peer: NodeID, _ lag: UInt64) {
        if self.replicationLag[peer] == nil {
            self.replicationLag[peer] = Gauge(
                label: "raft.replication.lag", dimensions: self.dimensions + [("raft.peer_id", "\(peer)")], factory: self.factory)
        }
        self.replicationLag[peer]!.record(Double(lag))
    }
}
