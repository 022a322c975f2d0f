import ArgumentParser

/// `rafty members demote ID`: turns a voter into a read-only member.
struct MembersDemoteCommand: AsyncParsableCommand {
    /// Name and help.
    static let configuration = CommandConfiguration(
        commandName: "demote",
        abstract: "Turn a voter into a read-only member (refused if too few reachable voters would remain); prints 'index N'."
    )

    /// The endpoints, the timeout and the node.
    @OptionGroup var member: ExistingMemberArguments

    /// Runs the command.
    func run() async throws { try await self.member.run(.demote) }
}
