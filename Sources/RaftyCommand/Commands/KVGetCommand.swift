import ArgumentParser

/// `rafty kv get KEY`: writes the raw value to stdout.
struct KVGetCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Read a key; writes the raw value to stdout.")

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// The key.
    @Argument(help: "The key.")
    var key: String

    /// The read consistency (nil: the server's default, linearizable).
    @Option(help: "linearizable (default on the server), lease or stale.")
    var consistency: Consistency?

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let value = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.get(key: self.key, consistency: self.consistency, with: client)
        }
        StandardStreams.writeBytes(value, to: .output)
    }

    /// Reads `key`; a 404 becomes ``RaftyClientError/keyNotFound(_:)``.
    static func get(key: String, consistency: Consistency?, with client: RaftyHTTPClient) async throws(RaftyClientError) -> [UInt8] {
        let query = consistency.map { [("consistency", $0.rawValue)] } ?? []
        let response = try await client.send(APIRequest(.get, KVCommand.target(of: key, query: query)))
        if response.status == 404 { throw .keyNotFound(key) }
        try response.requireSuccess()
        return response.body
    }
}
