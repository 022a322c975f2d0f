import ArgumentParser

/// `rafty kv cas KEY --prev OLD NEW` (or `--create`): compare-and-set; prints the commit index.
struct KVCASCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "cas",
        abstract: "Compare-and-set: write NEW only if the key holds OLD (--prev) or is absent (--create).",
        discussion: "Exits 1 with the server's message when the current value differs (409)."
    )

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// The key.
    @Argument(help: "The key.")
    var key: String

    /// The value the key must hold for the write to happen.
    @Option(help: ArgumentHelp("The value the key must hold now.", valueName: "old"))
    var prev: String?

    /// Write only if the key is absent (`?prevExist=false`).
    @Flag(help: "Write only if the key does not exist.")
    var create = false

    /// The value to write.
    @OptionGroup var value: ValueOptions

    /// Rejects bad values and combinations; the error is a usage error (exit 2).
    mutating func validate() throws {
        switch (self.prev, self.create) {
        case (nil, false): throw ValidationError("give --prev OLD or --create")
        case (.some, true): throw ValidationError("give either --prev or --create, not both")
        default: break
        }
    }

    /// The query that carries the condition.
    var conditionQuery: [(String, String)] {
        if let prev = self.prev { return [("prev", prev)] }
        return [("prevExist", "false")]
    }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let bytes = try self.value.bytes()
        let query = self.conditionQuery
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await KVPutCommand.put(key: self.key, value: bytes, query: query, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }
}
