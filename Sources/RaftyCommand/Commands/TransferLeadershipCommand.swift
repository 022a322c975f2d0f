import ArgumentParser

/// `rafty transfer-leadership [--to ID]`: asks the leader to hand over leadership.
struct TransferLeadershipCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "transfer-leadership",
        abstract: "Ask the leader to transfer leadership (to --to ID, or to the most up-to-date voter)."
    )

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// The node to hand leadership to (nil: the server picks).
    @Option(help: ArgumentHelp("The node to hand leadership to.", valueName: "id"))
    var to: String?

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let answer = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.transfer(to: self.to, with: client)
        }
        StandardStreams.writeLine(answer, to: .output)
    }

    /// The request body: `{"to": ID}` (a number when ID is one) or `{}`.
    static func body(to target: String?) -> [UInt8] {
        guard let target else { return Array("{}".utf8) }
        if !target.isEmpty, target.allSatisfy(\.isASCII), UInt64(target) != nil {
            return Array("{\"to\":\(target)}".utf8)
        }
        return Array("{\"to\":\(JSONString.quote(target))}".utf8)
    }

    /// Sends the transfer request and returns the server's answer as text (`ok` if it is empty).
    static func transfer(to target: String?, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        let request = APIRequest(.post, "/v1/leadership/transfer", body: Self.body(to: target), contentType: "application/json")
        let response = try await client.send(request)
        try response.requireSuccess()
        let text = String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? "ok" : text
    }
}
