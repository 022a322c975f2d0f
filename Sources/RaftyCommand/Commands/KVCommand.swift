import ArgumentParser

/// `rafty kv`: reads and writes keys through the HTTP API.
struct KVCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read and write keys of the replicated key-value store.",
        subcommands: [
            KVPutCommand.self,
            KVGetCommand.self,
            KVDeleteCommand.self,
            KVCASCommand.self,
        ]
    )

    /// The request target of `key`: `/v1/kv/` and the key as one percent-encoded path segment.
    static func target(of key: String, query: [(String, String)] = []) -> String {
        var target = "/v1/kv/" + PathSegment.encode(key)
        if !query.isEmpty {
            target += "?" + query.map { "\(PathSegment.encode($0.0))=\(PathSegment.encode($0.1))" }.joined(separator: "&")
        }
        return target
    }

    /// The `index N` line of a write's answer `{"index": N}`.
    static func indexLine(of response: APIResponse) throws(RaftyClientError) -> String {
        guard let index = IndexBody.parse(response.body) else {
            throw .invalidResponse(endpoint: response.endpoint, reason: "expected {\"index\": N}")
        }
        return "index \(index)"
    }
}
