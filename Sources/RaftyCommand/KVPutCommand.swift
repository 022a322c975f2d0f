import ArgumentParser

/// `rafty kv put KEY VALUE`: writes a key and prints the commit index.
struct KVPutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Write a key; prints 'index N'.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The key.")
    var key: String

    @OptionGroup var value: ValueOptions

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
