import ArgumentParser
internal import Foundation

/// `rafty members list [--json]`: the members of the cluster's configuration.
struct MembersListCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the members (ID, ADDRESS, VOTER) as the first endpoint that answers sees them."
    )

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// Print JSON instead of a table.
    @Flag(help: "Print the JSON array of members ({\"id\", \"address\", \"voter\"}) instead of a table.")
    var json = false

    /// The `{"members": [...]}` answer.
    private struct Body: Decodable {
        var members: [NodeStatus.Member]
    }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let response = try await RaftyHTTPClient.with(self.client) { client in
            try await Self.fetch(with: client)
        }
        if self.json {
            StandardStreams.writeLine(try Self.renderJSON(response), to: .output)
        } else {
            StandardStreams.writeLine(Self.renderTable(try Self.members(in: response)), to: .output)
        }
    }

    /// `GET /v1/members`, with failover (a read: any failure moves on).
    static func fetch(with client: RaftyHTTPClient) async throws(RaftyClientError) -> APIResponse {
        let response = try await client.send(APIRequest(.get, "/v1/members"))
        try response.requireSuccess()
        return response
    }

    /// The members of an answer, decoded leniently.
    static func members(in response: APIResponse) throws(RaftyClientError) -> [NodeStatus.Member] {
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)) else {
            throw .invalidResponse(endpoint: response.endpoint, reason: "expected {\"members\": [...]}")
        }
        return body.members
    }

    /// The table: `ID  ADDRESS  VOTER`, `yes`/`no`, `-` for what is unknown.
    static func renderTable(_ members: [NodeStatus.Member]) -> String {
        let rows = members.map { member in
            [member.id ?? "-", member.address ?? "-", member.voter.map { $0 ? "yes" : "no" } ?? "-"]
        }
        return TextTable.render(header: ["ID", "ADDRESS", "VOTER"], rows: rows)
    }

    /// The server's members array, pretty-printed with sorted keys.
    static func renderJSON(_ response: APIResponse) throws(RaftyClientError) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let members = object["members"] as? [Any],
            let data = try? JSONSerialization.data(withJSONObject: members, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else {
            throw .invalidResponse(endpoint: response.endpoint, reason: "expected {\"members\": [...]}")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
