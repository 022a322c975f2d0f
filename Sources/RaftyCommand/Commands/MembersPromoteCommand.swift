import ArgumentParser

/// `rafty members promote ID`: turns a read-only member into a voter once it has caught up.
struct MembersPromoteCommand: AsyncParsableCommand {
    /// Name and help.
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Turn a read-only member into a voter once it has caught up; prints 'index N'."
    )

    /// The endpoints, the timeout and the node.
    @OptionGroup var member: ExistingMemberArguments

    /// Runs the command.
    func run() async throws { try await self.member.run(.promote) }
}
