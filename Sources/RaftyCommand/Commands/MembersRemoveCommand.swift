import ArgumentParser

/// `rafty members remove ID`: removes a node from the cluster.
struct MembersRemoveCommand: AsyncParsableCommand {
    /// Name and help.
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node (a voter is demoted first; the leader hands over first); prints 'index N'."
    )

    /// The endpoints, the timeout and the node.
    @OptionGroup var member: ExistingMemberArguments

    /// Runs the command.
    func run() async throws { try await self.member.run(.remove) }
}
