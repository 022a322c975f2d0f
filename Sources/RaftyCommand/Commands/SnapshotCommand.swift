import ArgumentParser

/// `rafty snapshot`: back up the key-value state, and start a new cluster from a backup.
struct SnapshotCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Save the key-value state to a file, or make a data directory that starts a new cluster from one.",
        discussion: """
            rafty snapshot save FILE asks a node for the whole state after a linearizable read \
            (every write acknowledged before it is in the file) and checks it before keeping it. \
            rafty snapshot restore FILE --data-dir DIR --id ID --address ADDR makes a fresh data \
            directory for a one-member cluster holding that state, with a new cluster id; start it \
            with rafty serve and grow it with rafty members add.
            """,
        subcommands: [SnapshotSaveCommand.self, SnapshotRestoreCommand.self]
    )
}
