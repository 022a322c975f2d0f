import ArgumentParser

/// `rafty members promote ID`: turns a non-voter into a voter once it has caught up.
struct MembersPromoteCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Turn a non-voter into a voter once it has caught up; prints 'index N'."
    )

    /// The endpoints and timeout (default 30 s).
    @OptionGroup var client: MembershipClientOptions

    /// The node to promote.
    @Argument(help: "The node's id.")
    var id: UInt64

    /// Rejects id 0 (exit 2).
    func validate() throws { try MembersCommand.validate(id: self.id) }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.promote(id: self.id, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// Promotes the node and returns the `index N` line.
    static func promote(id: UInt64, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        try await MembersCommand.change(APIRequest(.post, MembersCommand.target(of: id, action: "promote")), with: client)
    }
}
