import ArgumentParser

/// `rafty kv delete KEY`: deletes a key and prints the commit index.
struct KVDeleteCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key; prints 'index N'.")

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// The key.
    @Argument(help: "The key.")
    var key: String

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.delete(key: self.key, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// Deletes `key`, returns the `index N` line.
    static func delete(key: String, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        let response = try await client.send(APIRequest(.delete, KVCommand.target(of: key)))
        if response.status == 404 { throw .keyNotFound(key) }
        try response.requireSuccess()
        return try KVCommand.indexLine(of: response)
    }
}
