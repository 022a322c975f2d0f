import ArgumentParser

/// `rafty members`: lists and changes the cluster's members through the HTTP API.
///
/// Changes are writes: they move on to another endpoint only when the request certainly was not
/// applied (no connection, or 503); after a 504 or a connection lost mid-request the outcome is
/// unknown and reported as such (exit 1), never retried.
struct MembersCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "List, add, remove, promote and demote cluster members.",
        discussion: """
            A new node is started with `rafty serve --join --peers ADDR` (ADDR: any member), then \
            added with `rafty members add ID ADDRESS`: it joins as a read-only member and is promoted once \
            it has caught up with the log (with --read-only it stays one). One change at a time.
            """,
        subcommands: [
            MembersListCommand.self,
            MembersAddCommand.self,
            MembersRemoveCommand.self,
            MembersPromoteCommand.self,
            MembersDemoteCommand.self,
        ]
    )

    /// The request target of member `id`, with an optional action (`promote`, `demote`).
    static func target(of id: UInt64, action: String? = nil) -> String {
        "/v1/members/\(id)" + (action.map { "/" + $0 } ?? "")
    }

    /// A change to an existing member.
    enum Change: Sendable {
        /// Make a read-only member vote.
        case promote
        /// Make a voter read-only.
        case demote
        /// Remove the member.
        case remove

        /// The request that asks for it.
        func request(for id: UInt64) -> APIRequest {
            switch self {
            case .promote: APIRequest(.post, MembersCommand.target(of: id, action: "promote"))
            case .demote: APIRequest(.post, MembersCommand.target(of: id, action: "demote"))
            case .remove: APIRequest(.delete, MembersCommand.target(of: id))
            }
        }
    }

    /// Carries out `change` on member `id` and returns the `index N` line of its answer.
    static func change(_ change: Change, of id: UInt64, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        try await Self.change(change.request(for: id), with: client)
    }

    /// Sends a membership change and returns the `index N` line of its answer.
    static func change(_ request: APIRequest, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        let response = try await client.send(request)
        try response.requireSuccess()
        return try KVCommand.indexLine(of: response)
    }

    /// Rejects the reserved id 0 (a usage error).
    static func validate(id: UInt64) throws {
        guard id != 0 else { throw ValidationError("the member ID must be a positive integer") }
    }
}
