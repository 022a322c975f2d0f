import ArgumentParser

/// `rafty kv put KEY VALUE`: writes a key and prints the commit index.
struct KVPutCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Write a key; prints 'index N'.")

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// The key.
    @Argument(help: "The key.")
    var key: String

    /// The value to write.
    @OptionGroup var value: ValueOptions

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let bytes = try self.value.bytes()
        let line = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.put(key: self.key, value: bytes, query: [], with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// Writes `value` (a compare-and-set with `query`), returns the `index N` line.
    static func put(
        key: String,
        value: [UInt8],
        query: [(String, String)],
        with client: RaftyHTTPClient
    ) async throws(RaftyClientError) -> String {
        let request = APIRequest(.put, KVCommand.target(of: key, query: query), body: value)
        let response = try await client.send(request)
        try response.requireSuccess()
        return try KVCommand.indexLine(of: response)
    }
}
