import ArgumentParser

/// The `rafty` command: demo, serve, HTTP clients and bench.
@main
struct RaftyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rafty",
        abstract: "Rafty: a Raft-replicated key-value server, its clients and a load generator.",
        subcommands: [
            DemoCommand.self,
            ServeCommand.self,
        ]
    )
}
