import ArgumentParser

/// The `rafty` command: demo, serve, HTTP clients and bench.
///
/// `main()` is written out (instead of ArgumentParser's default) so that the exit codes follow the
/// CLI contract: 0 success, 1 operation failed, 2 usage error (ArgumentParser would use 64).
@main
struct RaftyCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "rafty",
        abstract: "Rafty: a Raft-replicated key-value server, its clients and a load generator.",
        subcommands: [
            DemoCommand.self,
            ServeCommand.self,
            KVCommand.self,
            StatusCommand.self,
            MembersCommand.self,
            BootstrapCommand.self,
            SnapshotCommand.self,
            TransferLeadershipCommand.self,
            BenchCommand.self,
            CertsCommand.self,
            RecoverCommand.self,
        ]
    )

    /// Parses the process arguments, runs the chosen command and exits with the contract's code.
    static func main() async {
        let outcome = await Self.execute(Array(CommandLine.arguments.dropFirst()))
        outcome.write()
        outcome.exitProcess()
    }

    /// Parses `arguments`, runs the command they name and returns what to print and the exit code.
    ///
    /// Output that the command itself writes (values, tables) goes straight to stdout; the outcome
    /// carries only the help text or the error message.
    static func execute(_ arguments: [String]) async -> CommandOutcome {
        do {
            var command = try Self.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return .success
        } catch {
            return CommandOutcome(error: error, for: Self.self)
        }
    }
}
