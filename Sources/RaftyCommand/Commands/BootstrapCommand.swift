import ArgumentParser

/// `rafty bootstrap`: forms the cluster on a node started with `rafty serve --bootstrap`.
struct BootstrapCommand: AsyncParsableCommand {
    /// Name and help.
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Form the cluster: the node at --endpoint (started with --bootstrap) leads a cluster of itself, then adds its --peers.",
        discussion: "Run it against exactly one node; a second bootstrap is refused once the cluster exists."
    )

    /// The endpoints and timeout (a refused connection or 503 moves on to the next endpoint).
    @OptionGroup var client: ClientOptions

    /// `--timeout`, 30 s by default: a new voter catches up first.
    var requestTimeout: Duration { self.client.timeoutDuration(default: ClientOptions.membershipTimeout) }

    /// Sends `POST /v1/bootstrap` and prints the members.
    func run() async throws {
        let answer = try await RaftyHTTPClient.with(self.client, timeout: self.requestTimeout) { client in
            let response = try await client.send(APIRequest(.post, "/v1/bootstrap", body: Array("{}".utf8), contentType: "application/json"))
            try response.requireSuccess()
            return String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
        }
        StandardStreams.writeLine(answer, to: .output)
    }
}
