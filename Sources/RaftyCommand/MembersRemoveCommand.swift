import ArgumentParser

/// `rafty members remove ID`: removes a node from the cluster.
struct MembersRemoveCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node (a voter is demoted first; the leader hands over first); prints 'index N'."
    )

    /// The endpoints and timeout (default 30 s).
    @OptionGroup var client: MembershipClientOptions

    /// The node to remove.
    @Argument(help: "The node's id.")
    var id: UInt64

    /// Rejects id 0 (exit 2).
    func validate() throws { try MembersCommand.validate(id: self.id) }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.remove(id: self.id, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// Removes the node and returns the `index N` line.
    static func remove(id: UInt64, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        try await MembersCommand.change(APIRequest(.delete, MembersCommand.target(of: id)), with: client)
    }
}
