import ArgumentParser

/// `rafty members demote ID`: turns a voter into a non-voter.
struct MembersDemoteCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "demote",
        abstract: "Turn a voter into a non-voter (refused if too few reachable voters would remain); prints 'index N'."
    )

    /// The endpoints and timeout (default 30 s).
    @OptionGroup var client: MembershipClientOptions

    /// The node to demote.
    @Argument(help: "The node's id.")
    var id: UInt64

    /// Rejects id 0 (exit 2).
    func validate() throws { try MembersCommand.validate(id: self.id) }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.demote(id: self.id, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// Demotes the node and returns the `index N` line.
    static func demote(id: UInt64, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        try await MembersCommand.change(APIRequest(.post, MembersCommand.target(of: id, action: "demote")), with: client)
    }
}
