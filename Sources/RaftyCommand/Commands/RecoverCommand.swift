import ArgumentParser
import Rafty

/// `rafty recover --force-new-cluster`: a surviving node becomes a one-member cluster.
struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Make a stopped node the only member of a new cluster with its data (a majority is lost for good).",
        discussion: """
            Run it on the data directory of the surviving node with the longest log, with the \
            node stopped. Its log becomes the truth: entries the old cluster never committed are \
            committed, and committed writes it never received are lost. Then start it with \
            rafty serve (same --id, --data-dir and --address): it leads at once. Add members back \
            with rafty members add, each with a fresh data directory; never restart an old member \
            with its old data directory.
            """
    )

    @Option(name: .customLong("data-dir"), help: "The stopped node's data directory.")
    var dataDirectory: String

    @Flag(name: .customLong("force-new-cluster"), help: "Required: confirms that the other members are lost for good.")
    var forceNewCluster = false

    @Option(help: "The node's gRPC address in the new cluster (default: the one recorded for it).")
    var address: String?

    func validate() throws {
        guard self.forceNewCluster else {
            throw ValidationError("recover rewrites the cluster's membership: give --force-new-cluster to confirm")
        }
    }

    func run() throws {
        StandardStreams.writeLine(
            "WARNING: forcing a new cluster from \(self.dataDirectory): the other members are dropped for good, and this node's log becomes the truth.",
            to: .error)
        let outcome = try DisasterRecovery.forceNewCluster(dataDirectory: self.dataDirectory, address: self.address)
        let dropped = outcome.previousMembers.subtracting([outcome.nodeID]).sorted().map(String.init).joined(separator: ", ")
        StandardStreams.writeLine(
            "node \(outcome.nodeID) (\(outcome.address)) is now the only member, at index \(outcome.configurationIndex), term \(outcome.term), in a new cluster \(String(outcome.clusterID, radix: 16)) (old members are refused); dropped members: \(dropped.isEmpty ? "none" : dropped)",
            to: .output)
        StandardStreams.writeLine(
            "next: rafty serve --id \(outcome.nodeID) --address \(outcome.address) --data-dir \(self.dataDirectory) ..., then rafty members add for each new member",
            to: .output)
    }
}
