import ArgumentParser

/// `rafty members add ID ADDRESS [--read-only]`: adds a node (started with `rafty serve --join`).
struct MembersAddCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a node: it joins as a read-only member and is promoted once caught up; prints 'index N'.",
        discussion: """
            Exit 1 with 'too_slow' if the node did not catch up in time: it is then a member but a \
            read-only member (promote it later with `rafty members promote ID`).
            """
    )

    /// The endpoints and timeout (default 30 s).
    @OptionGroup var client: ClientOptions

    /// `--timeout`, 30 s by default: a new voter catches up first.
    var requestTimeout: Duration { self.client.timeoutDuration(default: ClientOptions.membershipTimeout) }

    /// The new node's id.
    @Argument(help: "The new node's id (non-zero, unique in the cluster).")
    var id: UInt64

    /// The new node's Raft (gRPC) address.
    @Argument(help: ArgumentHelp("Where the members reach the new node over gRPC: ip or ip:port.", valueName: "address"))
    var address: String

    /// Add it as a read-only member and leave it one.
    @Flag(name: .customLong("read-only"), help: "Add the node as a read-only member (it replicates but never votes).")
    var readOnly = false

    /// Rejects id 0 and an empty address (exit 2).
    func validate() throws {
        try MembersCommand.validate(id: self.id)
        guard !self.address.trimmingWhitespace().isEmpty else { throw ValidationError("ADDRESS must not be empty") }
    }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let line = try await RaftyHTTPClient.with(self.client, timeout: self.requestTimeout) { client in
            try await Self.add(id: self.id, address: self.address, voter: !self.readOnly, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }

    /// The body `{"id": N, "address": "...", "voter": Bool}`.
    static func body(id: UInt64, address: String, voter: Bool) -> [UInt8] {
        Array("{\"id\":\(id),\"address\":\(JSONString.quote(address.trimmingWhitespace())),\"voter\":\(voter)}".utf8)
    }

    /// Adds the node and returns the `index N` line.
    static func add(id: UInt64, address: String, voter: Bool, with client: RaftyHTTPClient) async throws(RaftyClientError) -> String {
        let request = APIRequest(.post, "/v1/members", body: Self.body(id: id, address: address, voter: voter), contentType: "application/json")
        return try await MembersCommand.change(request, with: client)
    }
}
